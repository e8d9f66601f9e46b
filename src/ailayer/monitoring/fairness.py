"""Group fairness of a binary classifier's decisions, by Fairlearn's definitions
(where a rate is undefined, ours differs on purpose: see below).

For each value of a sensitive attribute: selection rate P(ŷ=1), true positive rate
P(ŷ=1 | y=1), false positive rate P(ŷ=1 | y=0) and precision P(y=1 | ŷ=1). Across groups:

- demographic parity difference = max - min selection rate; ratio = min / max;
- equalized odds difference = the larger of the TPR spread and the FPR spread;
- the four-fifths rule passes when the demographic parity ratio is at least 0.8.

A rate with an empty denominator (no positives in a group, say) is None and left out of
the spreads; a spread needs two groups with the rate, and equalized odds is None when
neither spread can be measured. Fairlearn instead counts such a rate as 0.0 (scikit-learn's
``confusion_matrix(normalize="true")`` turns 0/0 into 0), which reads as "misses every
positive of the group" and inflates the spread by a group that gives no evidence.
Without labels only the selection-rate metrics are computed, which is what a window of
the prediction log allows before its labels arrive.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from ailayer.core.errors import InvalidInput

FOUR_FIFTHS = 0.8


@dataclass(frozen=True)
class GroupMetrics:
    """Counts and rates of one group."""

    group: str
    count: int
    selected: int
    selection_rate: float
    positives: int | None = None
    true_positive_rate: float | None = None
    false_positive_rate: float | None = None
    precision: float | None = None


@dataclass(frozen=True)
class FairnessReport:
    """Per-group metrics and the disparities between groups."""

    sensitive: str
    groups: tuple[GroupMetrics, ...]
    demographic_parity_difference: float
    demographic_parity_ratio: float
    equalized_odds_difference: float | None
    four_fifths_rule: bool

    def __getitem__(self, group: str) -> GroupMetrics:
        for metrics in self.groups:
            if metrics.group == group:
                return metrics
        raise KeyError(group)

    def to_dict(self) -> dict:
        body = asdict(self)
        body["groups"] = {g.group: asdict(g) for g in self.groups}
        return body


def fairness_report(
    y_pred: Any,
    sensitive: Any,
    *,
    y_true: Any = None,
    name: str = "sensitive",
    threshold: float | None = None,
) -> FairnessReport:
    """Fairness of decisions ``y_pred`` (0/1, or scores cut at ``threshold``) by group."""
    decisions = _binary(y_pred, "y_pred", threshold)
    groups = pd.Series(np.asarray(sensitive, dtype=object)).astype(str).to_numpy()
    if len(groups) != len(decisions):
        raise InvalidInput("sensitive must have one value per prediction", field="sensitive")
    labels = None if y_true is None else _binary(y_true, "y_true", None)
    if labels is not None and len(labels) != len(decisions):
        raise InvalidInput("y_true must have one value per prediction", field="y_true")
    per_group = tuple(
        _group(str(g), decisions[groups == g], None if labels is None else labels[groups == g])
        for g in sorted(set(groups))
    )
    return _report(name, per_group, labels is not None)


def _group(group: str, decisions: np.ndarray, labels: np.ndarray | None) -> GroupMetrics:
    selected = int(decisions.sum())
    metrics = GroupMetrics(group, len(decisions), selected, selected / len(decisions))
    if labels is None:
        return metrics
    positives = int(labels.sum())
    true_positives = int((decisions & labels).sum())
    negatives = len(labels) - positives
    return GroupMetrics(
        group,
        len(decisions),
        selected,
        selected / len(decisions),
        positives=positives,
        true_positive_rate=_rate(true_positives, positives),
        false_positive_rate=_rate(selected - true_positives, negatives),
        precision=_rate(true_positives, selected),
    )


def _report(name: str, groups: tuple[GroupMetrics, ...], labelled: bool) -> FairnessReport:
    if not groups:
        raise InvalidInput("no predictions to assess", field="y_pred")
    rates = [g.selection_rate for g in groups]
    ratio = min(rates) / max(rates) if max(rates) > 0 else 1.0
    odds = None
    if labelled:
        spreads = [
            _spread([g.true_positive_rate for g in groups]),
            _spread([g.false_positive_rate for g in groups]),
        ]
        measured = [s for s in spreads if s is not None]
        odds = max(measured) if measured else None
    return FairnessReport(
        sensitive=name,
        groups=groups,
        demographic_parity_difference=max(rates) - min(rates),
        demographic_parity_ratio=ratio,
        equalized_odds_difference=odds,
        four_fifths_rule=ratio >= FOUR_FIFTHS,
    )


def _spread(values: list[float | None]) -> float | None:
    """max - min over the groups where the rate is defined; None with fewer than two."""
    known = [v for v in values if v is not None]
    return max(known) - min(known) if len(known) >= 2 else None


def _rate(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def _binary(values: Any, field: str, threshold: float | None) -> np.ndarray:
    try:
        array = np.asarray(values, dtype=float).reshape(-1)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"{field} must be 0/1 values or scores: {exc}", field=field) from exc
    if np.isnan(array).any():
        raise InvalidInput(f"{field} has missing values", field=field)
    if threshold is not None:
        return array >= threshold
    if not np.isin(array, (0.0, 1.0)).all():
        raise InvalidInput(f"{field} must be 0/1 (pass threshold= to cut scores)", field=field)
    return array == 1.0
