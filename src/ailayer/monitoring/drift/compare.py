"""Compare a current window's profile with the reference's: the drift report.

``compare`` is a pure function of two profiles, so a scheduler can run it on stored
summaries; ``learn_thresholds`` turns the spread of a statistic across reference windows
into per-feature bounds (mean + k*sigma) for features whose usual noise the defaults misjudge.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ailayer.monitoring.drift.methods import (
    METHODS,
    capped_names,
    default_method,
    psi_band,
    statistics,
)
from ailayer.monitoring.drift.profile import Profile
from ailayer.monitoring.drift.report import DriftReport, FeatureDrift
from ailayer.monitoring.drift.summary import Summary
from ailayer.monitoring.numeric import capped, moments

DEFAULT_SHARE_BOUND = 0.5
MIN_COUNT = 30  # fewer non-missing values than this in either window: no verdict
LEARNED_SIGMAS = 3.0


@dataclass(frozen=True)
class LearnedThreshold:
    """Bound for one feature's statistic, learned from reference windows."""

    method: str
    mean: float
    std: float
    bound: float


def compare(
    reference: Profile,
    current: Profile,
    *,
    methods: Mapping[str, str] | None = None,
    thresholds: Mapping[str, float | LearnedThreshold] | None = None,
    share_bound: float = DEFAULT_SHARE_BOUND,
    min_count: int = MIN_COUNT,
    prediction: str | None = None,
) -> DriftReport:
    """Judge every reference feature in ``current``; ``prediction`` names the score column,
    reported apart and left out of the share. ``methods`` / ``thresholds`` override the
    defaults per feature name."""
    verdicts = {
        name: judge(
            name,
            summary,
            current.features[name],
            method=(methods or {}).get(name),
            threshold=(thresholds or {}).get(name),
            min_count=min_count,
        )
        for name, summary in reference.features.items()
        if name in current.features
    }
    score = verdicts.pop(prediction, None) if prediction else None
    return _report(tuple(verdicts.values()), score, share_bound, reference, current)


def judge(
    name: str,
    reference: Summary,
    current: Summary,
    *,
    method: str | None = None,
    threshold: float | LearnedThreshold | None = None,
    min_count: int = MIN_COUNT,
) -> FeatureDrift:
    """One feature's verdict, or the reason there is none."""
    chosen = method or default_method(reference.kind, reference.count)
    base = {
        "name": name,
        "kind": reference.kind,
        "reference_count": reference.count,
        "current_count": current.count,
        "current_missing": current.missing,
        "reference_out_of_range": getattr(reference, "out_of_range", 0),
        "current_out_of_range": getattr(current, "out_of_range", 0),
    }
    reason = _unfit(reference, current, chosen, min_count)
    if reason:
        return FeatureDrift(method=chosen, drifted=None, reason=reason, **base)
    values = statistics(reference, current, ks_p_value=chosen == "ks")
    return _verdict(chosen, values, threshold, base, _exact(reference, current))


def learn_thresholds(
    reference: Profile,
    windows: Sequence[Profile],
    *,
    methods: Mapping[str, str] | None = None,
    sigmas: float = LEARNED_SIGMAS,
) -> dict[str, LearnedThreshold]:
    """Bounds mean + ``sigmas``*sigma of each feature's statistic over reference ``windows``.

    A learned bound always compares the statistic itself (D for KS, chi2 for chi-square,
    the distance otherwise), so windows should be about as large as the ones judged.
    """
    learned = {}
    for name, summary in reference.features.items():
        chosen = (methods or {}).get(name) or default_method(summary.kind, summary.count)
        judged = [w.features[name] for w in windows]
        seen = [_statistic(summary, w, chosen) for w in judged if not _unfit(summary, w, chosen, 1)]
        if len(seen) >= 2:
            mean, std = moments(np.array(seen))
            std *= (len(seen) / (len(seen) - 1)) ** 0.5  # the sample std (ddof=1)
            bound = capped(mean + sigmas * std)
            learned[name] = LearnedThreshold(chosen, mean, capped(std), bound)
    return learned


def _statistic(reference: Summary, current: Summary, method: str) -> float:
    return statistics(reference, current, ks_p_value=False)[method]


def _unfit(reference: Summary, current: Summary, method: str, min_count: int) -> str | None:
    if method not in METHODS:
        return f"unknown drift method {method!r}; known: {sorted(METHODS)}"
    if reference.kind not in METHODS[method].kinds:
        return f"method {method!r} does not apply to {reference.kind} features"
    needed = max(min_count, 1)
    for side, summary in (("reference", reference), ("current", current)):
        if summary.count < needed:
            return (
                f"the {side} window has {summary.count} non-missing values; "
                f"at least {needed} are needed"
            )
    return None


def _verdict(
    method: str,
    values: dict[str, float],
    threshold: float | LearnedThreshold | None,
    base: dict,
    exact: bool,
) -> FeatureDrift:
    spec = METHODS[method]
    statistic, p_value = values[method], values.get(f"{method}_p_value")
    if isinstance(threshold, LearnedThreshold):
        drifted, bound, learned = statistic > threshold.bound, threshold.bound, True
    else:
        bound = spec.threshold if threshold is None else float(threshold)
        drifted, learned = spec.drifted(statistic, p_value, bound), False
    return FeatureDrift(
        method=method,
        drifted=bool(drifted),
        statistic=statistic,
        p_value=p_value,
        threshold=bound,
        learned_threshold=learned,
        psi_band=psi_band(values["psi"]),
        exact=exact,
        statistics=values,
        capped=capped_names(values),
        **base,
    )


def _exact(reference: Summary, current: Summary) -> bool:
    return bool(getattr(reference, "exact", True) and getattr(current, "exact", True))


def _report(
    features: tuple[FeatureDrift, ...],
    prediction: FeatureDrift | None,
    share_bound: float,
    reference: Profile,
    current: Profile,
) -> DriftReport:
    judged = [f for f in features if f.computed]
    share = sum(bool(f.drifted) for f in judged) / len(judged) if judged else None
    reason = None
    if share is None:
        reason = _empty_reason(current, features)
    return DriftReport(
        features=features,
        drift_share=share,
        dataset_drift=None if share is None else share >= share_bound,
        share_bound=share_bound,
        reference_rows=reference.rows,
        current_rows=current.rows,
        prediction=prediction,
        reason=reason,
    )


def _empty_reason(current: Profile, features: tuple[FeatureDrift, ...]) -> str:
    if current.rows == 0:
        return "the current window is empty"
    if not features:
        return "no features to compare"
    reasons = {f.reason for f in features if f.reason}
    return "no feature could be judged: " + "; ".join(sorted(reasons))
