"""Usage measured on the real app: CPU seconds per model call, model memory over time,
events in and out; written by the meter, read back by ``GET /v1/cost`` for the key's
tenant only, and exported on ``/metrics``."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest

from ailayer.bootstrap import build
from ailayer.events import Event
from ailayer.models.flavors import Predictions
from ailayer.serving.inline import CallCosts
from tests.support.api import Api, make_api
from tests.support.services import tiny_sklearn_model

RECORD = {"amount": 900.0, "card_age_days": 3.0}


@pytest.fixture
def fraud(api: Api) -> None:
    assert api.register("fraud", tiny_sklearn_model(), aliases=["champion"]).status_code == 201


def predict(api: Api, times: int, rows: int = 4) -> None:
    for _ in range(times):
        answer = api.client.post(
            "/v1/predict/fraud", headers=api.headers("service"), json=[RECORD] * rows
        )
        assert answer.status_code == 200, answer.text


def write_usage(api: Api) -> None:
    api.services.prediction_log.flush()
    writer = api.services.usage_writer
    assert writer is not None
    writer.meter.flush()


class Spin:
    """A model whose predict burns CPU: its tally must show it."""

    def predict(self, matrix: np.ndarray) -> Predictions:
        end = time.thread_time() + 0.02
        while time.thread_time() < end:
            pass
        return Predictions(list(range(len(matrix))), None, None)


def test_call_costs_tally_each_models_thread_cpu_and_start_again_when_taken() -> None:
    costs, spin, other = CallCosts(), Spin(), Spin()

    async def calls() -> None:
        for _ in range(3):
            await costs.call(spin, np.zeros((2, 1)))
        await costs.call(other, np.zeros((500, 1)))  # large: in a worker thread

    asyncio.run(calls())
    taken = costs.take_cpu()
    assert taken[spin] >= 0.06 * 0.9 and taken[other] >= 0.02 * 0.9
    assert costs.take_cpu() == {}


def test_cost_reports_predictions_cpu_and_memory_per_endpoint_and_version(api: Api, fraud) -> None:  # type: ignore[no-untyped-def]
    predict(api, 25)
    write_usage(api)
    report = api.client.get("/v1/cost", headers=api.headers("viewer")).json()
    [line] = report["endpoints"]
    assert (line["endpoint"], line["model"], line["version"]) == ("fraud", "fraud", 1)
    assert (line["predictions"], line["requests"]) == (100, 25)
    assert line["cpu_seconds"] > 0 and line["memory_gib_hours"] > 0
    prices = api.services.settings.prices
    assert line["cost"]["cpu"] == pytest.approx(line["cpu_seconds"] / 3600 * prices["cpu_hour"])
    assert report["total"] >= line["cost"]["total"] > 0


def test_cost_is_the_keys_tenants_only_and_needs_a_key(api: Api, fraud) -> None:  # type: ignore[no-untyped-def]
    predict(api, 5)
    write_usage(api)
    other = make_api(api.services, tenant="globex")
    try:
        theirs = other.client.get("/v1/cost", headers=other.headers("viewer")).json()
        assert theirs["endpoints"] == [] and theirs["tenant_id"] == other.tenant_id
        assert other.client.get("/v1/cost").status_code == 401
    finally:
        other.client.close()


def test_events_in_and_out_are_counted_per_tenant(api: Api) -> None:
    async def traffic() -> None:
        bus = api.services.bus
        events = [
            Event(id=f"e{i}", source="test", type="t", tenant=api.tenant_id) for i in range(3)
        ]
        await bus.publish("payments", events)
        sub = await bus.subscribe("payments", "workers", "reader")
        assert len(await sub.fetch(10, timeout=0.5)) == 3

    asyncio.run(traffic())
    write_usage(api)
    events = api.client.get("/v1/cost", headers=api.headers()).json()["events"]
    assert (events["events_in"], events["events_out"]) == (3, 3)
    assert events["cost"] == pytest.approx(6 / 1e6 * api.services.settings.prices["events_million"])


def test_usage_is_exported_on_metrics(api: Api, fraud) -> None:  # type: ignore[no-untyped-def]
    predict(api, 3)
    write_usage(api)
    text = api.client.get("/metrics", headers=api.headers()).text
    cpu = [line for line in text.splitlines() if line.startswith("ailayer_usage_cpu_seconds_total")]
    assert cpu and float(cpu[0].split()[-1]) > 0
    assert 'ailayer_usage_cost_total{resource="cpu_seconds"}' in text


def test_a_bad_window_is_refused_naming_the_field(api: Api) -> None:
    answer = api.client.get(
        "/v1/cost?since=2026-12-02T00:00:00Z&until=2026-12-01T00:00:00Z", headers=api.headers()
    )
    assert answer.status_code == 422 and "since must be before until" in answer.text


def test_usage_is_written_and_read_on_sqlite_and_postgresql(make_settings, metadata_url) -> None:  # type: ignore[no-untyped-def]
    services = build(make_settings(metadata_url=metadata_url))
    made = make_api(services)
    try:
        assert made.register("fraud", tiny_sklearn_model(), aliases=["champion"]).status_code == 201
        predict(made, 5)
        write_usage(made)
        [line] = made.client.get("/v1/cost", headers=made.headers()).json()["endpoints"]
        assert line["predictions"] == 20 and line["cpu_seconds"] > 0
    finally:
        made.client.close()
        services.close()
