"""Monitoring: the algorithms at this level, the services that run them in subpackages.

The algorithms are ``drift/`` (mergeable profiles and tests), ``concept`` (ADWIN, DDM,
Page-Hinkley), ``explain`` (SHAP), ``fairness``, ``experiment`` (A/B results, on the
always-valid tests of ``sequential``), ``ranking`` (precision, recall, NDCG at k and
coverage of recommendations) and ``numeric``: arrays and summaries in,
results out, no I/O. They are what this module imports, so importing them loads no
database, log or store (``tests/unit/test_import_rules.py`` checks it).

The services run them on what endpoints did: ``log/`` (the prediction log, feedback,
performance), ``endpoint/`` (an endpoint's drift, reference profiles, concept drift,
fairness, experiments and HTML report, read from the log and the metadata store) and ``alerting/``
(rules, their store, the monitor). Their main classes are importable from here too,
loaded on first use. See ``docs/monitoring.md``.
"""

import importlib as _importlib
from typing import Any as _Any

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
from ailayer.monitoring.experiment import ExperimentResult
from ailayer.monitoring.explain import Explanation, explain, global_importance, permutation_shap
from ailayer.monitoring.fairness import FairnessReport, GroupMetrics, fairness_report

_SERVICES = {
    "AlertEvaluator": "ailayer.monitoring.alerting",
    "AlertRule": "ailayer.monitoring.alerting",
    "AlertStore": "ailayer.monitoring.alerting",
    "ConceptWatch": "ailayer.monitoring.endpoint",
    "EndpointDrift": "ailayer.monitoring.endpoint",
    "EndpointExperiments": "ailayer.monitoring.endpoint",
    "LogFairness": "ailayer.monitoring.endpoint",
    "ReferenceStore": "ailayer.monitoring.endpoint",
    "FeedbackStore": "ailayer.monitoring.log",
    "LogWriter": "ailayer.monitoring.log",
    "PerformanceMonitor": "ailayer.monitoring.log",
    "PredictionLog": "ailayer.monitoring.log",
}
_SUBPACKAGES = ("alerting", "endpoint", "log")

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
    "EndpointExperiments",
    "ExperimentResult",
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
    "endpoint",
    "explain",
    "fairness_report",
    "global_importance",
    "learn_thresholds",
    "log",
    "permutation_shap",
    "profile",
]


def __getattr__(name: str) -> _Any:
    """A service class or subpackage, imported when first asked for (it brings the
    database and the log, which the algorithms do not need)."""
    if name in _SUBPACKAGES:
        return _importlib.import_module(f"{__name__}.{name}")
    if name in _SERVICES:
        return getattr(_importlib.import_module(_SERVICES[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
