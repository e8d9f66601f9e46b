"""Alert rules, their evaluation, persisted state, and notifications.

    rules (code, API, CLI) ──▶ AlertStore ──▶ Monitor (every interval) ──▶ AlertEvaluator
        Observer: performance windows, missing inputs, EndpointDrift, ConceptWatch
    transitions ──▶ alert_states + alert_notifications ──▶ Dispatcher (background)
        ──▶ bus: ailayer.alert.fired / ailayer.alert.resolved   ──▶ signed webhooks

See ``docs/monitoring.md`` (Alerts).
"""

from ailayer.monitoring.alerting.evaluator import AlertEvaluator, MemoryStates, StoreStates
from ailayer.monitoring.alerting.monitor import Background, Monitor
from ailayer.monitoring.alerting.notify import (
    FIRED,
    RESOLVED,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    Alert,
    Dispatcher,
    Notifier,
    WebhookNotifier,
    alert_event,
    verify,
)
from ailayer.monitoring.alerting.observe import Observation, Observer
from ailayer.monitoring.alerting.rules import KINDS, OPS, AlertRule, rule_from_dict
from ailayer.monitoring.alerting.store import AlertStore, StoredRule

__all__ = [
    "FIRED",
    "KINDS",
    "OPS",
    "RESOLVED",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "Alert",
    "AlertEvaluator",
    "AlertRule",
    "AlertStore",
    "Background",
    "Dispatcher",
    "MemoryStates",
    "Monitor",
    "Notifier",
    "Observation",
    "Observer",
    "StoreStates",
    "StoredRule",
    "WebhookNotifier",
    "alert_event",
    "rule_from_dict",
    "verify",
]
