"""``ailayer monitor`` end to end: rules from the API, a pass over the real log, signed
webhooks to a real receiver (down, then slow, then up), events on the embedded bus,
state that survives a restarted monitor, and the CLI."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from click.testing import CliRunner

from ailayer.bootstrap import alert_monitor
from ailayer.cli.main import cli
from ailayer.events import open_bus
from ailayer.monitoring.alerting import (
    FIRED,
    RESOLVED,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    Dispatcher,
    verify,
)
from ailayer.monitoring.alerting.notify import WebhookOptions
from tests.support.services import free_port, tiny_sklearn_model
from tests.support.webhooks import WebhookReceiver

SECRET = "hook-secret-1"
BODY = {"amount": 900.0, "card_age_days": 3}


@pytest.fixture
def port() -> Iterator[int]:
    yield free_port()


def predict(api, n: int) -> list[str]:  # type: ignore[no-untyped-def]
    ids = []
    for _ in range(n):
        response = api.client.post("/v1/predict/fraud", headers=api.headers("service"), json=BODY)
        assert response.status_code == 200, response.text
        ids += [p["prediction_id"] for p in response.json()["predictions"]]
    api.services.prediction_log.flush()
    return ids


def one_pass(services) -> tuple[list, Dispatcher]:  # type: ignore[no-untyped-def]
    """One monitor pass, as a freshly started ``ailayer monitor --once`` runs it."""
    options = WebhookOptions(attempts=2, backoff=0.01, timeout=5, allow_private=True)
    dispatcher = Dispatcher(services.alerts, services.settings.event_bus, webhooks=options)
    monitor = alert_monitor(services, dispatcher)
    try:
        return monitor.run_once().alerts, dispatcher
    finally:
        dispatcher.close()


def deliveries(api) -> dict[tuple[str, str], str]:  # type: ignore[no-untyped-def]
    body = api.client.get("/v1/alerts", headers=api.headers("viewer")).json()
    return {(h["rule"], h["status"]): h["delivery"] for h in body["history"]}


def test_monitor_notifies_webhook_and_bus(api, port) -> None:  # type: ignore[no-untyped-def]
    assert api.register("fraud", tiny_sklearn_model(), aliases=["champion"]).status_code == 201
    ids = predict(api, 3)
    hook = f"http://127.0.0.1:{port}/hook"
    rules = [
        {"name": "unlabelled", "metric": "labelled", "op": "<", "threshold": 1,
         "endpoint": "fraud", "webhook_url": hook, "webhook_secret": SECRET},
        {"name": "busy", "kind": "metric", "metric": "requests", "op": ">=", "threshold": 3},
    ]  # fmt: skip
    for rule in rules:
        created = api.client.post("/v1/alerts/rules", headers=api.headers("developer"), json=rule)
        assert created.status_code == 201, created.text
    services = api.services

    async def scenario() -> list:
        bus = open_bus(services.settings.event_bus)
        subscription = await bus.subscribe(services.settings.alert_topic, "retrain", "c1")
        try:
            # 1. the receiver is down: both fire; the webhook is retried, then recorded failed
            fired, _ = await asyncio.to_thread(one_pass, services)
            assert sorted((a.rule, a.status) for a in fired) == [
                ("busy", "firing"),
                ("unlabelled", "firing"),
            ]
            events = await subscription.fetch(10, timeout=5)
            await subscription.ack_many(events)
            got = sorted((d.event.type, d.event.subject, d.event.tenant) for d in events)
            assert got == [(FIRED, "busy", api.tenant_id), (FIRED, "unlabelled", api.tenant_id)]
            assert deliveries(api) == {
                ("busy", "firing"): "delivered",
                ("unlabelled", "firing"): "failed",
            }
            # 2. labels arrive; the receiver is up but slow: the pass does not wait for it
            labels = [{"prediction_id": i, "label": True} for i in ids]
            answer = api.client.post("/v1/feedback", headers=api.headers("service"), json=labels)
            assert answer.json()["accepted"] == 3
            receiver = WebhookReceiver(port, held=True)
            try:
                options = WebhookOptions(attempts=2, backoff=0.01, timeout=30, allow_private=True)
                dispatcher = Dispatcher(
                    services.alerts, services.settings.event_bus, webhooks=options
                )
                done = await asyncio.to_thread(alert_monitor(services, dispatcher).run_once)
                assert [(a.rule, a.status) for a in done.alerts] == [("unlabelled", "resolved")]
                assert deliveries(api)[("unlabelled", "resolved")] == "pending"  # held by gate
                receiver.gate.set()
                await asyncio.to_thread(dispatcher.close)
            finally:
                receiver.close()
            assert deliveries(api)[("unlabelled", "resolved")] == "delivered"
            [(headers, body)] = receiver.received
            assert verify(SECRET, body, headers[TIMESTAMP_HEADER], headers[SIGNATURE_HEADER])
            assert orjson.loads(body)["status"] == "resolved"
            [event] = await subscription.fetch(10, timeout=5)
            await event.ack()
            assert (event.event.type, event.event.data["rule"]) == (RESOLVED, "unlabelled")
            assert event.event.data["tenant_id"] == api.tenant_id
            # 3. a restarted monitor fires nothing again
            again, _ = await asyncio.to_thread(one_pass, services)
            return again
        finally:
            await bus.close()

    assert asyncio.run(scenario()) == []
    firing = api.client.get("/v1/alerts", headers=api.headers("viewer")).json()["firing"]
    assert [(f["rule"], f["version"]) for f in firing] == [("busy", 1)]


def test_rule_routes(api) -> None:  # type: ignore[no-untyped-def]
    url = "/v1/alerts/rules"
    rule = {"name": "drift", "kind": "drift_share", "op": ">=", "threshold": 0.3}
    assert api.client.post(url, headers=api.headers("viewer"), json=rule).status_code == 403
    created = api.client.post(url, headers=api.headers("admin"), json=rule)
    assert created.status_code == 201 and created.json()["kind"] == "drift_share"
    assert api.client.post(url, headers=api.headers("admin"), json=rule).status_code == 409
    bad = api.client.post(url, headers=api.headers("admin"), json={**rule, "name": "x", "for": 0})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "for_"
    broken = api.client.post(url, headers=api.headers("admin"), content=b"{nope")
    assert broken.status_code == 400
    listed = api.client.get(url, headers=api.headers("viewer")).json()
    assert [r["name"] for r in listed] == ["drift"]
    assert api.client.get(f"{url}/drift", headers=api.headers("viewer")).json()["threshold"] == 0.3
    assert api.client.get(f"{url}/nope", headers=api.headers("viewer")).status_code == 404
    assert api.client.delete(f"{url}/drift", headers=api.headers("developer")).status_code == 204
    assert api.client.delete(f"{url}/drift", headers=api.headers("developer")).status_code == 404


def test_cli_rules_and_once(services, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Rules through a live server's API with the tenant's key; the loop on the stores."""
    from ailayer.api import create_app
    from tests.support.services import live_server

    monkeypatch.setenv("AILAYER_HOME", str(services.settings.home))
    tenant = services.keys.create_tenant("acme")
    monkeypatch.setenv("AILAYER_API_KEY", services.keys.create_key(tenant, "ops", "admin").key)

    def run(*args: str):  # type: ignore[no-untyped-def]
        return CliRunner().invoke(cli, ["monitor", *args], prog_name="ailayer")

    with live_server(create_app(services)) as url:
        monkeypatch.setenv("AILAYER_URL", url)
        added = run("rules", "add", "errors", "--kind", "error_rate", "--threshold", "0.1")
        assert added.exit_code == 0, added.output
        bad = run("rules", "add", "slow", "--kind", "latency", "--metric", "p42")
        assert bad.exit_code == 1 and "metric must be one of p50, p95, p99" in bad.output
        listed = run("rules", "list", "--json")
        assert [r["name"] for r in json.loads(listed.output)] == ["errors"]
        assert [r.to_dict()["name"] for r in services.alerts.rules(tenant)] == ["errors"]
        once = run("--once")
        assert once.exit_code == 0, once.output
        assert "0 change(s)" in once.output
        assert run("rules", "remove", "errors").exit_code == 0
        missing = run("rules", "remove", "errors")
        assert missing.exit_code == 1 and "not found" in missing.output
        alerts = run("alerts", "--json")
        assert json.loads(alerts.output) == {"firing": [], "history": []}


def test_drift_share_rule_on_the_real_endpoint_drift(api) -> None:  # type: ignore[no-untyped-def]
    import numpy as np
    import pandas as pd

    from ailayer.monitoring.alerting import Observer
    from ailayer.monitoring.log import Entry
    from tests.support.log_records import target

    services = api.services
    assert api.register("fraud", tiny_sklearn_model(), aliases=["champion"]).status_code == 201
    rng = np.random.default_rng(5)
    reference = pd.DataFrame(
        {"amount": rng.uniform(0, 1000, 2000), "card_age_days": rng.uniform(0, 365, 2000)}
    )
    services.drift.references.put(api.tenant_id, "fraud", 1, reference)
    now = datetime.now(UTC)
    hour = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    for i in range(500):  # amounts moved far up, card ages as before
        row = {
            "amount": float(rng.uniform(5000, 9000)),
            "card_age_days": float(rng.uniform(0, 365)),
        }
        item = {"prediction_id": f"{i:032x}", "prediction": True, "score": 0.7}
        moment = int((hour + timedelta(seconds=5 * i)).timestamp() * 1e9)
        services.prediction_log.buffer.put(
            Entry(api.tenant_id, target(), moment, 1.0, [row], [item])
        )
    services.prediction_log.flush()
    rule = {"name": "drift", "kind": "drift_share", "op": ">=", "threshold": 0.5}
    assert api.client.post("/v1/alerts/rules", headers=api.headers(), json=rule).status_code == 201
    observer = Observer(services.performance, drift=services.drift, now=lambda: now)
    dispatcher = Dispatcher(services.alerts, services.settings.event_bus)
    try:
        done = alert_monitor(services, dispatcher, observer).run_once()
    finally:
        dispatcher.close()
    assert done.errors == []
    [fired] = done.alerts
    assert (fired.rule, fired.kind, fired.value) == ("drift", "drift_share", 0.5)
    assert fired.detail["drifted"] == ["amount"] and fired.detail["rows"] == 500


def test_background_monitor_of_up(make_settings) -> None:  # type: ignore[no-untyped-def]
    import time

    from ailayer.bootstrap import build
    from ailayer.bootstrap import start_alert_monitor as start_background
    from ailayer.monitoring.alerting import AlertRule
    from ailayer.monitoring.log import Entry
    from tests.support.log_records import target

    idle = build(make_settings(monitor_interval_seconds=0))
    try:
        assert start_background(idle) is None
    finally:
        idle.close()
    services = build(make_settings(monitor_interval_seconds=0.2))
    try:
        tenant = services.keys.create_tenant("acme")
        services.alerts.add_rule(tenant, AlertRule("errors", kind="error_rate", threshold=0.5))
        entry = Entry(tenant, target(), time.time_ns(), 1.0, None, None, "invalid_input")
        services.prediction_log.buffer.put(entry)
        services.prediction_log.flush()
        background = start_background(services)
        assert background is not None
        try:
            deadline = time.monotonic() + 60
            while not services.alerts.history(tenant) and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            background.stop()
        [notification] = services.alerts.history(tenant)
        assert (notification["rule"], notification["status"]) == ("errors", "firing")
        assert notification["delivery"] == "delivered"  # the bus took it before stop returned
    finally:
        services.close()
