"""Shadow traffic through the real app: copies never slow or fail the live answer, a full
queue drops and counts, and the counters show in the deployment and in /metrics."""

from __future__ import annotations

import statistics
import time

import pytest
from fastapi.testclient import TestClient

from ailayer.api import create_app
from ailayer.bootstrap import build
from tests.support.api import Api, role_keys
from tests.support.deployments import RECORD, SlowModel, deploy, two_versions, variant, wrap_loaded

SHADOW_SECONDS = 0.4


@pytest.fixture
def shop(make_settings):  # type: ignore[no-untyped-def]
    """An app with a shadow queue of 2, served on one event loop (as uvicorn does)."""
    services = build(make_settings(shadow_queue_size=2))
    tenant_id, keys = role_keys(services)
    with TestClient(create_app(services)) as client:
        api = Api(client, services, tenant_id, keys)
        two_versions(api)
        body = {"variants": [variant("main", 1, 100), variant("shadow", 2, shadow=True)]}
        assert deploy(api, "checkout", body).status_code == 200
        yield api
    services.close()


def live_seconds(api: Api, n: int) -> list[float]:
    took = []
    for _ in range(n):
        started = time.perf_counter()
        response = api.client.post("/v1/predict/checkout", json=RECORD, headers=api.headers())
        took.append(time.perf_counter() - started)
        assert response.status_code == 200
        assert response.json()["alias"] == "main"
    return took


def counters(api: Api) -> dict[str, int]:
    body = api.client.get("/v1/endpoints/checkout/deployment", headers=api.headers()).json()
    return body["shadow"]["shadow"]


def wait_for(check, seconds: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "shadow worker did not catch up"
        time.sleep(0.05)


def test_a_slow_shadow_never_slows_the_live_answer_and_drops_when_full(shop) -> None:  # type: ignore[no-untyped-def]
    live_seconds(shop, 3)  # warm up; the shadow is fast so far
    wait_for(lambda: counters(shop)["agreed"] + counters(shop)["disagreed"] == 3)
    slow = wrap_loaded(shop, "fraud", 2, SlowModel(None, seconds=SHADOW_SECONDS))
    took = live_seconds(shop, 20)
    assert max(took) < SHADOW_SECONDS / 2, took
    assert statistics.median(took) < 0.05, took
    seen = counters(shop)
    assert seen["dropped"] > 0 and seen["sent"] + seen["dropped"] == 23
    wait_for(lambda: counters(shop)["disagreed"] == counters(shop)["sent"])
    assert slow.calls == counters(shop)["sent"] - 3
    assert counters(shop)["agreed"] == 0  # version 2 answers the opposite of version 1


def test_a_failing_shadow_is_counted_and_the_live_answer_stands(shop) -> None:  # type: ignore[no-untyped-def]
    live_seconds(shop, 1)
    wait_for(lambda: counters(shop)["disagreed"] == 1)
    wrap_loaded(shop, "fraud", 2, SlowModel(None, fail=True))
    live_seconds(shop, 1)
    wait_for(lambda: counters(shop)["failed"] == 1)
    assert counters(shop)["sent"] == 2
    shop.services.prediction_log.flush()
    rows = shop.services.prediction_log.query(shop.tenant_id, "checkout").to_pylist()
    shadow_rows = [r for r in rows if r["alias"] == "shadow"]
    assert len([r for r in rows if r["alias"] == "main"]) == 2
    assert [r["version"] for r in shadow_rows] == [2, 2]
    assert sum("shadow model broke" in (r["error"] or "") for r in shadow_rows) == 1


def test_shadow_counters_are_prometheus_metrics(shop) -> None:  # type: ignore[no-untyped-def]
    live_seconds(shop, 2)
    wait_for(lambda: counters(shop)["disagreed"] == 2)
    text = shop.client.get("/metrics", headers=shop.headers()).text
    assert 'ailayer_shadow_requests_total{outcome="sent"} 2.0' in text
    assert 'ailayer_shadow_predictions_total{outcome="disagreed"} 2.0' in text
