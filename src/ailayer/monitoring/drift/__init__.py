"""Data drift from mergeable per-window summaries. See ``docs/monitoring.md``."""

from ailayer.monitoring.drift.compare import LearnedThreshold, compare, judge, learn_thresholds
from ailayer.monitoring.drift.detector import DataDriftDetector
from ailayer.monitoring.drift.methods import METHODS, default_method, psi_band
from ailayer.monitoring.drift.profile import Profile, profile
from ailayer.monitoring.drift.report import DriftReport, FeatureDrift
from ailayer.monitoring.drift.summary import (
    CategoricalSummary,
    NumericSummary,
    summarize_categorical,
    summarize_numeric,
)

__all__ = [
    "METHODS",
    "CategoricalSummary",
    "DataDriftDetector",
    "DriftReport",
    "FeatureDrift",
    "LearnedThreshold",
    "NumericSummary",
    "Profile",
    "compare",
    "default_method",
    "judge",
    "learn_thresholds",
    "profile",
    "psi_band",
    "summarize_categorical",
    "summarize_numeric",
]
