"""Monitoring's computational core: data drift, concept drift, explanations, fairness.

Pure functions and small classes over arrays and summaries; the prediction log, alert
rules, HTTP routes and CLI build on them. See ``docs/monitoring.md``.
"""

from ailayer.monitoring import (
    alerting,
    concept_watch,
    endpoint_drift,
    log,
    log_fairness,
    references,
    report,
)
from ailayer.monitoring.alerting import AlertEvaluator, AlertRule, AlertStore
from ailayer.monitoring.concept import ADWIN, DDM, PageHinkley
from ailayer.monitoring.concept_watch import ConceptWatch
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
from ailayer.monitoring.endpoint_drift import EndpointDrift
from ailayer.monitoring.explain import Explanation, explain, global_importance, permutation_shap
from ailayer.monitoring.fairness import FairnessReport, GroupMetrics, fairness_report
from ailayer.monitoring.log import FeedbackStore, LogWriter, PerformanceMonitor, PredictionLog
from ailayer.monitoring.log_fairness import LogFairness
from ailayer.monitoring.references import ReferenceStore

__all__ = [
    "ADWIN",
    "DDM",
    "AlertEvaluator",
    "AlertRule",
    "AlertStore",
    "ConceptWatch",
    "DataDriftDetector",
    "DriftReport",
    "EndpointDrift",
    "Explanation",
    "FairnessReport",
    "FeatureDrift",
    "FeedbackStore",
    "GroupMetrics",
    "LearnedThreshold",
    "LogFairness",
    "LogWriter",
    "PageHinkley",
    "PerformanceMonitor",
    "PredictionLog",
    "Profile",
    "ReferenceStore",
    "alerting",
    "compare",
    "concept_watch",
    "endpoint_drift",
    "explain",
    "fairness_report",
    "global_importance",
    "learn_thresholds",
    "log",
    "log_fairness",
    "permutation_shap",
    "profile",
    "references",
    "report",
]
