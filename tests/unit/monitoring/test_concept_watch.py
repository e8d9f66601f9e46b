"""Concept drift per model version from the real log joined with feedback: a simulated
change in how often the model is right, at a known time, is detected after it and not
before; the route and the concept_drift rule report it."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from ailayer.core.errors import InvalidInput
from ailayer.monitoring.alerting import AlertEvaluator, AlertRule, Observer
from ailayer.monitoring.endpoint.concept import ConceptWatch, error_of
from ailayer.monitoring.log import Entry, Feedback
from tests.support.log_records import target
from tests.support.prediction_log import id_at

N = 1000  # predictions before and after the change


def replay_world(services, tenant: str, now: datetime) -> datetime:  # type: ignore[no-untyped-def]
    """2N one-row predictions a second apart ending a minute before ``now``; the model is
    wrong 10% of the time before the change and 50% after. Returns the change time."""
    rng = random.Random(3)
    start = now - timedelta(minutes=1) - timedelta(seconds=2 * N)
    labels = []
    for i in range(2 * N):
        moment = start + timedelta(seconds=i)
        wrong = rng.random() < (0.1 if i < N else 0.5)
        item = {"prediction_id": id_at(moment), "prediction": True, "score": 0.8}
        entry = Entry(
            tenant, target(), int(moment.timestamp() * 1e9), 1.0, [{"amount": 1.0}], [item]
        )
        services.prediction_log.buffer.put(entry)
        labels.append(Feedback(item["prediction_id"], not wrong))
    services.prediction_log.flush()
    assert services.feedback.submit(tenant, labels)["accepted"] == 2 * N
    return start + timedelta(seconds=N)


def test_detects_the_change_after_it_and_not_before(services) -> None:  # type: ignore[no-untyped-def]
    tenant = services.keys.create_tenant("acme")
    now = datetime.now(UTC)
    change = replay_world(services, tenant, now)
    watch = ConceptWatch(services.prediction_log)
    for detector in ("adwin", "page_hinkley"):
        [status] = watch.status(tenant, "fraud", detector, end=now, recent=timedelta(hours=1))
        assert (status["model"], status["version"], status["labelled"]) == ("fraud", 1, 2 * N)
        assert status["alarms"] >= 1, detector
        assert change <= status["first_alarm"] < change + timedelta(seconds=N // 2), detector
        assert all(t >= change for t in status["alarm_times"]), detector
        assert status["drifting"] is True
    before_change = change - timedelta(milliseconds=500)
    [before] = watch.status(tenant, "fraud", end=before_change)  # the stream before it alone
    assert (before["labelled"], before["alarms"], before["drifting"]) == (N, 0, False)


def test_concept_drift_rule_fires_once(services) -> None:  # type: ignore[no-untyped-def]
    tenant = services.keys.create_tenant("acme")
    now = datetime.now(UTC)
    replay_world(services, tenant, now)
    observer = Observer(services.performance, concept=services.concept)
    rule = AlertRule("concept", kind="concept_drift", detector="adwin")
    evaluator = AlertEvaluator(observer, [rule])
    [fired] = evaluator.evaluate(tenant, "fraud")
    assert (fired.status, fired.metric, fired.version) == ("firing", "concept_drift.adwin", 1)
    assert fired.detail["labelled"] == 2 * N and fired.value >= 1
    assert evaluator.evaluate(tenant, "fraud") == []


def test_concept_route(api) -> None:  # type: ignore[no-untyped-def]
    replay_world(api.services, api.tenant_id, datetime.now(UTC))
    url = "/v1/monitoring/fraud/concept"
    body = api.client.get(url, headers=api.headers("viewer")).json()
    [version] = body["versions"]
    assert body["detector"] == "adwin" and version["drifting"] is True
    bad = api.client.get(url + "?detector=kswin", headers=api.headers("viewer"))
    assert bad.status_code == 422
    assert api.client.get(url, headers=api.headers("service")).status_code == 403
    empty = api.client.get("/v1/monitoring/other/concept", headers=api.headers("viewer"))
    assert empty.status_code == 200 and empty.json()["versions"] == []


def test_errors_and_detector_choice() -> None:
    assert error_of(True, False) == 1.0 and error_of("a", "a") == 0.0
    assert error_of(2.5, 1) == 1.5
    with pytest.raises(InvalidInput) as raised:
        ConceptWatch(None).status("t", "fraud", "kswin")  # type: ignore[arg-type]
    assert raised.value.field == "detector"
