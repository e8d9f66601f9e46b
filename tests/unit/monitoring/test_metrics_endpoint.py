"""GET /metrics: Prometheus text that parses, counts that move, and no tenant data by default
(scraped with a viewer key, as Prometheus would with ``Authorization: Bearer``)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from ailayer.api import create_app
from ailayer.bootstrap import build
from ailayer.events.consumer import ConsumerRunner
from tests.support.api import make_api
from tests.support.metrics import scrape
from tests.support.services import tiny_sklearn_model

GOOD = {"amount": 900.0, "card_age_days": 3}


def requests(samples: dict, route: str, status: str = "200", method: str = "GET") -> float:
    labels = (("method", method), ("route", route), ("status", status))
    return samples.get(("ailayer_http_requests_total", labels), 0.0)


@pytest.fixture
def fraud(api):  # type: ignore[no-untyped-def]
    assert api.register("fraud", tiny_sklearn_model(), aliases=["champion"]).status_code == 201


def test_parses_and_counts_move(api) -> None:  # type: ignore[no-untyped-def]
    before = scrape(api.client, api.keys["viewer"])
    for _ in range(3):
        assert api.client.get("/healthz").status_code == 200
    after = scrape(api.client, api.keys["viewer"])
    assert requests(after, "/healthz") - requests(before, "/healthz") == 3
    assert requests(after, "/metrics") == requests(before, "/metrics") + 1
    count = ("ailayer_http_request_duration_seconds_count", (("route", "/healthz"),))
    assert after[count] - before.get(count, 0.0) == 3


def test_predict_is_labelled_by_template_with_no_tenant_data(api, fraud) -> None:  # type: ignore[no-untyped-def]
    headers = api.headers("service")
    assert api.client.post("/v1/predict/fraud", headers=headers, json=GOOD).status_code == 200
    assert api.client.post("/v1/predict/fraud", json=GOOD).status_code == 401
    assert api.client.get("/secret-tenant-path").status_code == 404
    text = api.client.get("/metrics", headers=api.headers("viewer")).text
    samples = scrape(api.client, api.keys["viewer"])
    assert requests(samples, "/v1/predict/{endpoint}", method="POST") == 1
    assert requests(samples, "/v1/predict/{endpoint}", "401", method="POST") == 1
    assert requests(samples, "unmatched", "404") == 1
    for secret in ("fraud", "champion", api.tenant_id, "acme", "secret-tenant-path"):
        assert secret not in text
    assert "tenant=" not in text
    assert samples[("ailayer_models_loaded", ())] == 1
    assert samples[("ailayer_model_cache_bytes", ())] > 0
    assert samples[("ailayer_model_load_seconds_count", ())] == 1
    assert samples[("ailayer_model_load_seconds_sum", ())] > 0
    assert samples[("ailayer_model_load_seconds_bucket", (("le", "+Inf"),))] == 1
    assert samples[("ailayer_model_evictions_total", ())] == 0
    assert samples[("ailayer_micro_batches_total", ())] == 1
    assert samples[("ailayer_micro_batched_requests_total", ())] == 1
    assert ("ailayer_prediction_log_buffer_rows", ()) in samples
    assert samples[("ailayer_prediction_log_dropped_rows_total", ())] == 0


def test_body_refused_before_routing_is_counted_unmatched(api) -> None:  # type: ignore[no-untyped-def]
    big = b"x" * (api.services.settings.max_body_bytes + 1)
    response = api.client.post("/v1/predict/fraud", headers=api.headers(), content=big)
    assert response.status_code == 413
    assert requests(scrape(api.client, api.keys["viewer"]), "unmatched", "413", "POST") == 1


def test_dropped_log_rows_are_exported(api) -> None:  # type: ignore[no-untyped-def]
    api.services.prediction_log.buffer.dropped = 5
    samples = scrape(api.client, api.keys["viewer"])
    assert samples[("ailayer_prediction_log_dropped_rows_total", ())] == 5


def test_consumer_lag_of_a_watched_runner(api) -> None:  # type: ignore[no-untyped-def]
    async def handler(event) -> None:  # type: ignore[no-untyped-def]
        return None

    runner = ConsumerRunner(api.services.bus, "payments", "scorer", handler)
    api.client.app.state.metrics.watch(runner)
    key = ("ailayer_consumer_lag", (("group", "scorer"), ("topic", "payments")))
    assert key not in scrape(api.client, api.keys["viewer"])  # no lag seen yet: no sample
    runner.stats.lag = 42
    assert scrape(api.client, api.keys["viewer"])[key] == 42


def test_each_app_has_its_own_registry(api) -> None:  # type: ignore[no-untyped-def]
    api.client.get("/healthz")
    with TestClient(create_app(api.services)) as other:
        assert requests(scrape(other, api.keys["viewer"]), "/healthz") == 0


def test_per_tenant_labels_only_when_set(make_settings) -> None:  # type: ignore[no-untyped-def]
    services = build(make_settings(metrics_per_tenant=True))
    try:
        api = make_api(services)
        with api.client:
            assert api.client.get("/v1/models", headers=api.headers()).status_code == 200
            assert api.client.get("/metrics").status_code == 401  # no key: tenant "none"
            scrape(api.client, api.keys["viewer"])
            samples = scrape(api.client, api.keys["viewer"])
        labels = (
            ("method", "GET"),
            ("route", "/v1/models"),
            ("status", "200"),
            ("tenant", api.tenant_id),
        )
        assert samples[("ailayer_http_requests_total", labels)] == 1
        scrapes = (("method", "GET"), ("route", "/metrics"), ("status", "200"))
        assert samples[("ailayer_http_requests_total", (*scrapes, ("tenant", api.tenant_id)))] == 1
        refused = (("method", "GET"), ("route", "/metrics"), ("status", "401"), ("tenant", "none"))
        assert ("ailayer_http_requests_total", refused) not in samples  # not this tenant's
        everything = api.client.app.state.metrics.registry  # the operator's view has it
        assert everything.get_sample_value("ailayer_http_requests_total", dict(refused)) == 1
    finally:
        services.close()
