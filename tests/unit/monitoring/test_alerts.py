"""Alert rules: fire once, resolve once, signed webhooks with retries to a real receiver."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from ailayer.core.errors import InvalidInput
from ailayer.monitoring.alerting import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    AlertEvaluator,
    AlertRule,
    WebhookNotifier,
    verify,
)
from tests.support.services import tiny_sklearn_model
from tests.support.webhooks import WebhookReceiver

SECRET = "s3cret"


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    made = WebhookReceiver()
    yield made
    made.close()


class Windows:
    """A performance monitor whose latest window is whatever the test sets."""

    def __init__(self) -> None:
        self.error_rate: float | None = 0.0

    def report(self, tenant_id: str, endpoint: str, window: str = "hour") -> dict:
        old = {"model": "fraud", "version": 1, "window_start": 1, "error_rate": 0.9}
        now = {"model": "fraud", "version": 1, "window_start": 2, "error_rate": self.error_rate}
        return {"windows": [now, old]}


def notifier(receiver: WebhookReceiver, **kwargs) -> WebhookNotifier:  # type: ignore[no-untyped-def]
    kwargs.setdefault("backoff", 0.01)
    return WebhookNotifier(receiver.url, SECRET, allow_private=True, **kwargs)


def test_fires_after_for_once_then_resolves_once(receiver) -> None:  # type: ignore[no-untyped-def]
    windows = Windows()
    rule = AlertRule("errors", "error_rate", "hour", ">", 0.1, for_=2)
    evaluator = AlertEvaluator(windows, [rule], [notifier(receiver)])
    assert evaluator.evaluate("t1", "fraud") == []  # latest window 0.0; the old 0.9 is ignored
    windows.error_rate = 0.5
    assert evaluator.evaluate("t1", "fraud") == []  # 1 of 2 breaches
    [fired] = evaluator.evaluate("t1", "fraud")
    assert (fired.status, fired.value, fired.model, fired.version) == ("firing", 0.5, "fraud", 1)
    assert evaluator.evaluate("t1", "fraud") == []  # still breaching: deduplicated
    windows.error_rate = None
    assert evaluator.evaluate("t1", "fraud") == []  # no data: no change
    windows.error_rate = 0.01
    [resolved] = evaluator.evaluate("t1", "fraud")
    assert resolved.status == "resolved"
    assert evaluator.evaluate("t1", "fraud") == []
    assert [a["status"] for a in receiver.alerts()] == ["firing", "resolved"]
    assert receiver.alerts()[0]["rule"] == "errors"


def test_webhook_is_signed_and_verifiable(receiver) -> None:  # type: ignore[no-untyped-def]
    evaluator = AlertEvaluator(Windows(), [AlertRule("low", "error_rate", op="<=")], [])
    [alert] = evaluator.evaluate("t1", "fraud")
    assert notifier(receiver).notify(alert)
    [(headers, body)] = receiver.received
    assert headers[SIGNATURE_HEADER].startswith("sha256=")
    assert verify(SECRET, body, headers[TIMESTAMP_HEADER], headers[SIGNATURE_HEADER])
    assert not verify("other", body, headers[TIMESTAMP_HEADER], headers[SIGNATURE_HEADER])
    assert not verify(SECRET, body + b" ", headers[TIMESTAMP_HEADER], headers[SIGNATURE_HEADER])
    stale = str(int(time.time()) - 3600)
    signed = notifier(receiver).headers(body, stale)[SIGNATURE_HEADER]
    assert not verify(SECRET, body, stale, signed)


def test_server_errors_are_retried_with_backoff(receiver) -> None:  # type: ignore[no-untyped-def]
    receiver.statuses = [503, 500]
    slept: list[float] = []
    hook = notifier(receiver, backoff=0.5, sleep=slept.append)
    [alert] = AlertEvaluator(Windows(), [AlertRule("low", "error_rate", op="<=")], []).evaluate(
        "t1", "fraud"
    )
    assert hook.notify(alert)
    assert len(receiver.received) == 3
    assert slept == [0.5, 1.0]
    assert hook.failed == []


def test_client_errors_are_not_retried(receiver) -> None:  # type: ignore[no-untyped-def]
    receiver.statuses = [400]
    hook = notifier(receiver)
    [alert] = AlertEvaluator(Windows(), [AlertRule("low", "error_rate", op="<=")], [hook]).evaluate(
        "t1", "fraud"
    )
    assert len(receiver.received) == 1
    assert hook.failed == [alert]


def test_receiver_down_is_recorded_and_evaluation_goes_on() -> None:
    hook = WebhookNotifier(
        "http://127.0.0.1:9/hook", SECRET, attempts=3, sleep=lambda _: None, allow_private=True
    )
    evaluator = AlertEvaluator(Windows(), [AlertRule("low", "error_rate", op="<=")], [hook])
    [alert] = evaluator.evaluate("t1", "fraud")
    assert hook.failed == [alert]


def test_rule_checks_its_operator() -> None:
    with pytest.raises(InvalidInput, match="op must be") as raised:
        AlertRule("bad", "error_rate", op="!=")
    assert raised.value.field == "op"
    assert AlertRule("p95", "latency_ms.p95").value({"latency_ms": {"p95": 12}}) == 12.0
    assert AlertRule("auc", "metrics.roc_auc").value({"metrics": {}}) is None


def test_rules_on_the_real_performance_monitor(api, receiver) -> None:  # type: ignore[no-untyped-def]
    assert api.register("fraud", tiny_sklearn_model(), aliases=["champion"]).status_code == 201
    body = {"amount": 900.0, "card_age_days": 3}
    for _ in range(3):
        response = api.client.post("/v1/predict/fraud", headers=api.headers("service"), json=body)
        assert response.status_code == 200
    api.services.prediction_log.flush()
    rule = AlertRule("busy", "requests", "hour", ">=", 3)
    evaluator = AlertEvaluator(api.services.performance, [rule], [notifier(receiver)])
    [fired] = evaluator.evaluate(api.tenant_id, "fraud")
    assert (fired.status, fired.value, fired.version) == ("firing", 3.0, 1)
    [received] = receiver.alerts()
    assert received["tenant_id"] == api.tenant_id and received["endpoint"] == "fraud"
