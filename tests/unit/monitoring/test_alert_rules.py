"""Rule definitions (validation naming the field) and what each rule kind observes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ailayer.core.errors import InvalidInput
from ailayer.monitoring.alerting import AlertEvaluator, AlertRule, Observer, rule_from_dict
from ailayer.monitoring.alerting.inputs import InputWatch, missing_share
from ailayer.monitoring.drift import DriftReport, FeatureDrift
from ailayer.monitoring.endpoint.drift import VersionDrift
from ailayer.monitoring.log import Entry
from tests.support.log_records import target

NOW = datetime(2026, 11, 29, 12, 30, tzinfo=UTC)
HOUR = timedelta(hours=1)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "bad name!"}, "name"),
        ({"name": "r", "kind": "median"}, "kind"),
        ({"name": "r", "window": "week", "metric": "error_rate"}, "window"),
        ({"name": "r", "op": "!=", "metric": "error_rate"}, "op"),
        ({"name": "r", "threshold": "high", "metric": "error_rate"}, "threshold"),
        ({"name": "r", "threshold": float("nan"), "metric": "error_rate"}, "threshold"),
        ({"name": "r", "for": 0, "metric": "error_rate"}, "for_"),
        ({"name": "r", "metric": ""}, "metric"),
        ({"name": "r", "metric": "a..b"}, "metric"),
        ({"name": "r", "kind": "latency", "metric": "p42"}, "metric"),
        ({"name": "r", "kind": "drift_share", "metric": "x"}, "metric"),
        ({"name": "r", "kind": "concept_drift", "detector": "kswin"}, "detector"),
        ({"name": "r", "kind": "error_rate", "endpoint": "a b"}, "endpoint"),
        ({"name": "r", "kind": "error_rate", "webhook_url": "ftp://x"}, "webhook_url"),
        ({"name": "r", "kind": "error_rate", "webhook_url": "http://x/h"}, "webhook_secret"),
        ({"name": "r", "kind": "error_rate", "webhook_secret": "12345678"}, "webhook_secret"),
        ({"name": "r", "kind": "error_rate", "colour": "red"}, "colour"),
        ({"kind": "error_rate"}, "name"),
        ({"name": 3, "kind": "error_rate"}, "name"),
    ],
)
def test_bad_definitions_name_the_field(body: dict, field: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        rule_from_dict(body)
    assert raised.value.field == field


def test_definition_round_trips_without_its_secret() -> None:
    rule = rule_from_dict(
        {
            "name": "slow",
            "kind": "latency",
            "metric": "p99",
            "for": 2,
            "threshold": 250,
            "webhook_url": "https://ops.example.com/hook",
            "webhook_secret": "a-long-secret",
        }
    )
    assert rule.path == "latency_ms.p99" and rule.for_ == 2
    body = rule.to_dict()
    assert "webhook_secret" not in body and body["has_webhook_secret"] is True
    assert "a-long-secret" not in repr(rule)
    assert rule_from_dict({**body, "webhook_secret": "a-long-secret"}) == rule
    assert AlertRule("e", kind="error_rate").path == "error_rate"
    assert AlertRule("l", kind="latency").path == "latency_ms.p95"


class Windows:
    """Performance windows as ``PerformanceMonitor.report`` shapes them, set by the test."""

    def __init__(self, windows: list[dict]) -> None:
        self.windows = windows

    def report(self, tenant_id: str, endpoint: str, window: str = "hour") -> dict:
        return {"windows": self.windows}


def window(start: datetime, version: int = 1, **values: object) -> dict:
    return {
        "model": "fraud",
        "version": version,
        "window_start": start,
        "window_end": start + HOUR,
        **values,
    }


def test_change_compares_with_the_previous_adjacent_window() -> None:
    start = NOW.replace(minute=0)
    windows = Windows(
        [
            window(start - HOUR, mean_confidence=0.9),
            window(start, mean_confidence=0.8),
            window(start - 2 * HOUR, version=2, mean_confidence=0.9),  # not adjacent
            window(start, version=2, mean_confidence=0.1),
        ]
    )
    rule = AlertRule("confidence", "mean_confidence", op="<", threshold=-0.2, kind="change")
    evaluator = AlertEvaluator(windows, [rule])
    assert evaluator.evaluate("t", "fraud") == []  # v1: -11%; v2: no previous hour
    windows.windows[1]["mean_confidence"] = 0.6
    [fired] = evaluator.evaluate("t", "fraud")
    assert (fired.version, fired.kind, fired.metric) == (1, "change", "mean_confidence")
    assert fired.value == pytest.approx(-1 / 3)
    assert fired.detail == {"latest": 0.6, "previous": 0.9}


def test_error_rate_and_latency_kinds_read_the_latest_window() -> None:
    start = NOW.replace(minute=0)
    windows = Windows(
        [
            window(start - HOUR, error_rate=0.5, latency_ms={"p95": 900.0, "p99": 990.0}),
            window(start, error_rate=0.01, latency_ms={"p95": 90.0, "p99": 300.0}),
        ]
    )
    rules = [
        AlertRule("errors", kind="error_rate", threshold=0.05),
        AlertRule("p99", "p99", kind="latency", threshold=250),
        AlertRule("p95", kind="latency", threshold=250),
    ]
    [fired] = AlertEvaluator(windows, rules).evaluate("t", "fraud")
    assert (fired.rule, fired.metric, fired.value) == ("p99", "latency_ms.p99", 300.0)


def test_a_rule_for_one_endpoint_skips_the_others() -> None:
    windows = Windows([window(NOW, error_rate=1.0)])
    rule = AlertRule("errors", kind="error_rate", endpoint="churn")
    assert AlertEvaluator(windows, [rule]).evaluate("t", "fraud") == []
    assert len(AlertEvaluator(windows, [rule]).evaluate("t", "churn")) == 1


class DriftReports:
    """``EndpointDrift.report``'s shape: one VersionDrift per version."""

    def __init__(self, share: float | None) -> None:
        self.share = share
        self.asked: list[tuple] = []

    def report(self, tenant_id, endpoint, start=None, end=None) -> list[VersionDrift]:  # type: ignore[no-untyped-def]
        self.asked.append((start, end))
        features = (
            FeatureDrift("amount", "numeric", "ks", True),
            FeatureDrift("hour", "numeric", "ks", False),
        )
        body = DriftReport(features, self.share, bool(self.share), 0.5, 500, 500)
        return [VersionDrift("fraud", 3, start, end, 500, body, None, None)]


def test_drift_share_judges_the_last_complete_window() -> None:
    drift = DriftReports(0.5)
    observer = Observer(Windows([]), drift=drift, now=lambda: NOW)
    rule = AlertRule("drift", kind="drift_share", op=">=", threshold=0.5)
    evaluator = AlertEvaluator(observer, [rule])
    [fired] = evaluator.evaluate("t", "fraud")
    assert drift.asked == [(datetime(2026, 11, 29, 11, tzinfo=UTC), NOW.replace(minute=0))]
    assert (fired.version, fired.value, fired.detail["drifted"]) == (3, 0.5, ["amount"])
    drift.share = None  # an empty window: no change
    assert evaluator.evaluate("t", "fraud") == []
    drift.share = 0.0
    [resolved] = evaluator.evaluate("t", "fraud")
    assert resolved.status == "resolved"


def test_missing_share_counts_nulls_and_absent_names() -> None:
    records = [{"a": 1.0, "b": None}, {"a": float("nan")}, {"a": 2.0, "b": 3.0}]
    assert missing_share(records) == {"rows": 3, "missing_share": 3 / 6}
    assert missing_share([]) == {"rows": 0, "missing_share": 0.0}


def test_missing_data_and_no_traffic_on_the_real_log(services) -> None:  # type: ignore[no-untyped-def]
    tenant = services.keys.create_tenant("acme")
    now = datetime.now(UTC)
    last_hour = now.replace(minute=0, second=0, microsecond=0) - HOUR
    rows = [(last_hour, 1, {"amount": None}), (last_hour, 1, {"amount": 5.0})]
    rows += [(last_hour - HOUR, 2, {"amount": 1.0})]  # v2 served the hour before only
    for moment, version, features in rows:
        item = {"prediction_id": f"{len(rows):032x}", "prediction": True, "score": 0.9}
        entry = Entry(
            tenant,
            target(version=version),
            int((moment + timedelta(minutes=5)).timestamp() * 1e9),
            1.0,
            [features],
            [item],
        )
        services.prediction_log.buffer.put(entry)
    services.prediction_log.flush()
    observer = Observer(
        services.performance, inputs=InputWatch(services.prediction_log), now=lambda: now
    )
    rule = AlertRule("missing", kind="missing_data", op=">=", threshold=0.5)
    alerts = AlertEvaluator(observer, [rule]).evaluate(tenant, "fraud")
    by_version = {a.version: a for a in alerts}
    assert by_version[1].value == 0.5 and by_version[1].detail["rows"] == 2
    assert by_version[2].value == 1.0 and by_version[2].detail["reason"].startswith("no traffic")
