"""What a drift comparison found, per feature and for the dataset, as plain data."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class FeatureDrift:
    """One feature's verdict. ``drifted`` is None (with a ``reason``) when not computed.

    ``statistic`` is the value of ``method``'s statistic; ``p_value`` is set for p-value
    tests (KS, chi-square); ``threshold`` is what decided (a p-value bound, a distance
    bound, or a bound learned from reference windows). ``statistics`` holds every
    statistic computed for the pair, for charts and alert rules.

    Data-quality findings: ``*_out_of_range`` count values whose magnitude exceeds 1e150
    (infinities included) in each window, and ``capped`` names the statistics whose
    true value lies beyond the float range and is reported as ±1.8e308.
    """

    name: str
    kind: str
    method: str | None
    drifted: bool | None
    statistic: float | None = None
    p_value: float | None = None
    threshold: float | None = None
    learned_threshold: bool = False
    psi_band: str | None = None
    reference_count: int = 0
    current_count: int = 0
    current_missing: int = 0
    reference_out_of_range: int = 0
    current_out_of_range: int = 0
    exact: bool = True
    reason: str | None = None
    statistics: dict[str, float] = field(default_factory=dict)
    capped: list[str] = field(default_factory=list)

    @property
    def computed(self) -> bool:
        return self.drifted is not None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class DriftReport:
    """Per-feature verdicts, the share of drifted features, and prediction drift.

    ``drift_share`` counts only features whose drift was computed; ``dataset_drift`` is
    ``drift_share >= share_bound``. Both are None, with a ``reason``, when nothing could
    be computed (an empty or too-small window).
    """

    features: tuple[FeatureDrift, ...]
    drift_share: float | None
    dataset_drift: bool | None
    share_bound: float
    reference_rows: int
    current_rows: int
    prediction: FeatureDrift | None = None
    reason: str | None = None

    @property
    def drifted_features(self) -> list[str]:
        return [f.name for f in self.features if f.drifted]

    def __getitem__(self, name: str) -> FeatureDrift:
        for feature in self.features:
            if feature.name == name:
                return feature
        if self.prediction is not None and self.prediction.name == name:
            return self.prediction
        raise KeyError(name)

    def to_dict(self) -> dict:
        return {
            "features": {f.name: f.to_dict() for f in self.features},
            "drift_share": self.drift_share,
            "dataset_drift": self.dataset_drift,
            "share_bound": self.share_bound,
            "drifted_features": self.drifted_features,
            "reference_rows": self.reference_rows,
            "current_rows": self.current_rows,
            "prediction": self.prediction.to_dict() if self.prediction else None,
            "reason": self.reason,
        }
