"""Monitoring closes the loop: replayed traffic with injected drift and a concept change.

Simulated payments are replayed in time order through ``/v1/predict``; after
``drift_start`` amounts double, 30% of payments come from a new country, and fraudsters
change their pattern. Labels arrive through ``/v1/feedback``. Then, with the real stores:

- the drift report flags ``amount`` and ``foreign_country`` and no other feature;
- the concept-drift detector alarms after the change and never before it;
- one ``ailayer monitor`` pass fires a drift rule and a concept rule, whose alerts reach
  a real webhook receiver (signature checked) and a subscriber on the bus;
- ``/metrics`` parses with Prometheus' own parser.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from ailayer.bootstrap import alert_monitor, alert_observer
from ailayer.events import open_bus
from ailayer.monitoring.alerting import (
    FIRED,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    Dispatcher,
    verify,
)
from ailayer.monitoring.alerting.notify import WebhookOptions
from ailayer.simulate import FRAUD_FEATURES, fraud_training_frame, simulate
from tests.support.services import TinyModel, upload_form
from tests.support.webhooks import WebhookReceiver

SECRET = "replay-secret"
DRIFT_START = datetime(2026, 1, 16, tzinfo=UTC)
BATCH = 250
DRIFTED = ["amount", "foreign_country"]


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    running = WebhookReceiver()
    yield running
    running.close()


def trained_model():  # type: ignore[no-untyped-def]
    """A fraud model trained on the payments before the change, and the replay data."""
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    data = simulate(
        seed=11,
        n_payments=12_000,
        drift_start=DRIFT_START,
        amount_shift=1.0,
        new_country_share=0.3,
        fraud_pattern_shift=True,
    )
    features, is_fraud = fraud_training_frame(data)
    before = (data.payments["ts"] < DRIFT_START).to_numpy()
    estimator = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    estimator.fit(features[before].to_numpy(dtype=float), is_fraud[before].to_numpy())
    signature = {
        "inputs": [{"name": name, "type": "double"} for name in FRAUD_FEATURES],
        "outputs": [{"name": "is_fraud", "type": "long"}],
    }
    return TinyModel(sio.dumps(estimator), signature, estimator), features, is_fraud, before


def replay(api, features, is_fraud) -> None:  # type: ignore[no-untyped-def]
    """Predict every payment in time order, then send its true label."""
    records = features.astype(float).to_dict("records")
    labels = is_fraud.to_numpy()
    for start in range(0, len(records), BATCH):
        response = api.client.post(
            "/v1/predict/fraud",
            headers=api.headers("service"),
            json=records[start : start + BATCH],
        )
        assert response.status_code == 200, response.text
        feedback = [
            {"prediction_id": item["prediction_id"], "label": int(label)}
            for item, label in zip(
                response.json()["predictions"], labels[start : start + BATCH], strict=True
            )
        ]
        answer = api.client.post("/v1/feedback", headers=api.headers("service"), json=feedback)
        assert answer.status_code == 200 and answer.json()["accepted"] == len(feedback)
    api.services.prediction_log.flush()


def test_replayed_drift_and_concept_change_alert_webhook_and_bus(api, receiver) -> None:  # type: ignore[no-untyped-def]
    model, features, is_fraud, before = trained_model()
    created = api.client.post(
        "/v1/models/fraud/versions",
        headers=api.headers("admin"),
        **upload_form(model, aliases=["champion"]),
    )
    assert created.status_code == 201, created.text
    reference = io.BytesIO()
    features[before].to_parquet(reference)
    stored = api.client.post(
        "/v1/models/fraud/versions/1/reference",
        headers=api.headers("admin"),
        files={"file": ("training.parquet", reference.getvalue())},
    )
    assert stored.status_code == 201, stored.text
    for rule in (
        {"name": "inputs-drifted", "kind": "drift_share", "op": ">=", "threshold": 0.3,
         "window": "day", "webhook_url": receiver.url, "webhook_secret": SECRET},
        {"name": "concept-changed", "kind": "concept_drift", "detector": "page_hinkley",
         "window": "day", "op": ">=", "threshold": 1,
         "webhook_url": receiver.url, "webhook_secret": SECRET},
    ):  # fmt: skip
        answer = api.client.post("/v1/alerts/rules", headers=api.headers("developer"), json=rule)
        assert answer.status_code == 201, answer.text

    replay(api, features[before], is_fraud[before])
    change = datetime.now(UTC)
    replay(api, features[~before], is_fraud[~before])

    # the drift report over the traffic after the change flags exactly the drifted inputs
    drift = api.client.get(
        "/v1/monitoring/fraud/drift",
        headers=api.headers("viewer"),
        params={"start": change.isoformat(), "end": (change + timedelta(hours=1)).isoformat()},
    )
    assert drift.status_code == 200, drift.text
    [version] = drift.json()["versions"]
    assert version["rows"] == int((~before).sum())
    drifted = [name for name, f in version["report"]["features"].items() if f["drifted"]]
    assert sorted(drifted) == DRIFTED

    # the concept-drift detector alarms after the change, not before it
    [status] = api.services.concept.status(api.tenant_id, "fraud", detector="page_hinkley")
    assert status["alarms"] >= 1
    assert _utc(status["first_alarm"]) >= change

    # one monitor pass (judging the whole day) fires both rules, to the webhook and the bus
    services = api.services

    async def monitor_pass() -> list:
        bus = open_bus(services.settings.event_bus)
        subscription = await bus.subscribe(services.settings.alert_topic, "retrain", "c1")
        try:
            tomorrow = datetime.now(UTC) + timedelta(days=1)
            dispatcher = Dispatcher(
                services.alerts,
                services.settings.event_bus,
                webhooks=WebhookOptions(attempts=3, backoff=0.05, timeout=10, allow_private=True),
            )
            observer = alert_observer(services)
            observer.now = lambda: tomorrow.replace(hour=0, minute=0, second=1)
            try:
                done = await asyncio.to_thread(
                    alert_monitor(services, dispatcher, observer).run_once
                )
            finally:
                await asyncio.to_thread(dispatcher.close)
            assert sorted((a.rule, a.status) for a in done.alerts) == [
                ("concept-changed", "firing"),
                ("inputs-drifted", "firing"),
            ]
            events = await subscription.fetch(10, timeout=5)
            await subscription.ack_many(events)
            return events
        finally:
            await bus.close()

    events = asyncio.run(monitor_pass())
    assert sorted((d.event.type, d.event.subject) for d in events) == [
        (FIRED, "concept-changed"),
        (FIRED, "inputs-drifted"),
    ]
    assert {d.event.tenant for d in events} == {api.tenant_id}
    bodies = {}
    for headers, body in receiver.received:
        assert verify(SECRET, body, headers[TIMESTAMP_HEADER], headers[SIGNATURE_HEADER])
        alert = orjson.loads(body)
        bodies[alert["rule"]] = alert
    assert sorted(bodies) == ["concept-changed", "inputs-drifted"]
    assert {alert["status"] for alert in bodies.values()} == {"firing"}

    # /metrics parses with Prometheus' parser and counted the replay's predictions
    scraped = api.client.get("/metrics", headers=api.headers("viewer")).text
    families = {f.name: f for f in text_string_to_metric_families(scraped)}
    requests = families["ailayer_http_requests"]
    predicted = sum(
        sample.value
        for sample in requests.samples
        if sample.name == "ailayer_http_requests_total"
        and sample.labels["route"] == "/v1/predict/{endpoint}"
        and sample.labels["status"] == "200"
    )
    batches = -(-int(before.sum()) // BATCH) + -(-int((~before).sum()) // BATCH)
    assert predicted == batches


def _utc(value) -> datetime:  # type: ignore[no-untyped-def]
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)
