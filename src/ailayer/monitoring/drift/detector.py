"""``DataDriftDetector``: fit a reference once, then report drift for any window."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import pandas as pd

from ailayer.monitoring.drift.compare import (
    DEFAULT_SHARE_BOUND,
    LEARNED_SIGMAS,
    MIN_COUNT,
    LearnedThreshold,
    compare,
    learn_thresholds,
)
from ailayer.monitoring.drift.profile import Profile, profile
from ailayer.monitoring.drift.report import DriftReport
from ailayer.monitoring.drift.summary import DEFAULT_BINS

Frame = Mapping[str, object] | pd.DataFrame


class DataDriftDetector:
    """Data and prediction drift of windows against a reference, from summaries.

    Parameters are kept as given (sklearn style); ``fit`` learns ``reference_`` (a
    ``Profile`` that can be stored with ``to_bytes`` and given back to ``fit``), and
    ``fit_thresholds`` learns ``thresholds_`` from reference windows.

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> reference = {"amount": rng.normal(0, 1, 5000), "plan": rng.choice(["a", "b"], 5000)}
        >>> current = {"amount": rng.normal(0.5, 1, 5000), "plan": rng.choice(["a", "b"], 5000)}
        >>> report = DataDriftDetector().fit(reference).report(current)
        >>> report.drifted_features, report.drift_share, report.dataset_drift
        (['amount'], 0.5, True)
        >>> report["amount"].method, round(report["amount"].statistic, 1)
        ('wasserstein', 0.5)
    """

    def __init__(
        self,
        *,
        categorical: Iterable[str] = (),
        prediction: str | None = None,
        methods: Mapping[str, str] | None = None,
        thresholds: Mapping[str, float] | None = None,
        share_bound: float = DEFAULT_SHARE_BOUND,
        min_count: int = MIN_COUNT,
        bins: int = DEFAULT_BINS,
    ) -> None:
        self.categorical = categorical
        self.prediction = prediction
        self.methods = methods
        self.thresholds = thresholds
        self.share_bound = share_bound
        self.min_count = min_count
        self.bins = bins

    def fit(self, reference: Frame | Profile) -> DataDriftDetector:
        """Summarize the reference (or take a stored reference profile)."""
        if isinstance(reference, Profile):
            self.reference_ = reference
        else:
            self.reference_ = profile(
                reference, categorical=tuple(self.categorical), bins=self.bins
            )
        self.thresholds_: dict[str, LearnedThreshold] = {}
        return self

    def fit_thresholds(
        self, windows: Sequence[Frame | Profile], *, sigmas: float = LEARNED_SIGMAS
    ) -> DataDriftDetector:
        """Learn per-feature bounds (mean + sigmas*sigma) from windows of reference data."""
        profiles = [self.profile(w) for w in windows]
        self.thresholds_ = learn_thresholds(
            self.reference_, profiles, methods=self.methods, sigmas=sigmas
        )
        return self

    def profile(self, window: Frame | Profile) -> Profile:
        """A window's mergeable profile on the reference's bins (profiles pass through)."""
        if isinstance(window, Profile):
            return window
        return profile(window, reference=self.reference_)

    def report(self, window: Frame | Profile) -> DriftReport:
        """The drift report of a window (rows or a profile, e.g. merged hourly profiles)."""
        thresholds: dict = dict(self.thresholds or {})
        thresholds.update(self.thresholds_)
        return compare(
            self.reference_,
            self.profile(window),
            methods=self.methods,
            thresholds=thresholds,
            share_bound=self.share_bound,
            min_count=self.min_count,
            prediction=self.prediction,
        )
