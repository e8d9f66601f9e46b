"""Monitoring's computational core: data drift, concept drift, explanations, fairness.

Pure functions and small classes over arrays and summaries; the prediction log, alert
rules, HTTP routes and CLI build on them. See ``docs/monitoring.md``.
"""

from ailayer.monitoring import log
from ailayer.monitoring.concept import ADWIN, DDM, PageHinkley
from ailayer.monitoring.drift import (
    DataDriftDetector,
    DriftReport,
    FeatureDrift,
    LearnedThreshold,
    Profile,
    compare,
    learn_thresholds,
    profile,
)
from ailayer.monitoring.explain import Explanation, explain, global_importance, permutation_shap
from ailayer.monitoring.fairness import FairnessReport, GroupMetrics, fairness_report
from ailayer.monitoring.log import FeedbackStore, LogWriter, PerformanceMonitor, PredictionLog

__all__ = [
    "ADWIN",
    "DDM",
    "DataDriftDetector",
    "DriftReport",
    "Explanation",
    "FairnessReport",
    "FeatureDrift",
    "FeedbackStore",
    "GroupMetrics",
    "LearnedThreshold",
    "LogWriter",
    "PageHinkley",
    "PerformanceMonitor",
    "PredictionLog",
    "Profile",
    "compare",
    "explain",
    "fairness_report",
    "global_importance",
    "learn_thresholds",
    "log",
    "permutation_shap",
    "profile",
]
