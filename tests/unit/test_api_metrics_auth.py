"""``/metrics`` needs a key with the ``metrics`` permission; with per-tenant labels a
tenant's key sees only its own tenant's series; ``metrics_listen`` serves every series
without a key on a separate, operator-only address."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import ValidationError

from ailayer.bootstrap import build
from ailayer.governance.roles import ROLE_PERMISSIONS, Permission, Role
from tests.support.api import Api, make_api
from tests.support.services import free_port


def tenants_in(text: str) -> set[str]:
    """The ``tenant`` label values of every sample in a scrape ("" when unlabelled)."""
    return {
        sample.labels.get("tenant", "")
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_metrics_need_a_key(api) -> None:  # type: ignore[no-untyped-def]
    response = api.client.get("/metrics")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert "ailayer_http_requests" not in response.text
    bad = api.client.get("/metrics", headers={"Authorization": "Bearer ail_nope_nope"})
    assert bad.status_code == 401


@pytest.mark.parametrize("role", ["admin", "developer", "viewer", "service"])
def test_every_role_may_scrape_with_a_bearer_key(api, role) -> None:  # type: ignore[no-untyped-def]
    response = api.client.get("/metrics", headers=api.headers(role))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    assert "ailayer_http_requests_total" in response.text


def test_the_metrics_permission_is_held_by_viewer_service_and_admin() -> None:
    for role in (Role.ADMIN, Role.VIEWER, Role.SERVICE):
        assert Permission.METRICS in ROLE_PERMISSIONS[role]


@pytest.fixture
def two_tenants(make_settings) -> Iterator[tuple[Api, Api]]:  # type: ignore[no-untyped-def]
    services = build(make_settings(metrics_per_tenant=True))
    acme = make_api(services, "acme")
    globex = make_api(services, "globex")
    globex.client = type(acme.client)(acme.client.app)  # one app: one registry
    try:
        yield acme, globex
    finally:
        globex.client.close()
        acme.client.close()
        services.close()


def test_with_per_tenant_labels_a_key_sees_only_its_tenants_series(two_tenants) -> None:  # type: ignore[no-untyped-def]
    acme, globex = two_tenants
    for api in (acme, globex):
        assert api.client.get("/v1/models", headers=api.headers()).status_code == 200
    full = acme.client.app.state.metrics  # what an operator sees: both tenants
    from prometheus_client import generate_latest

    assert {acme.tenant_id, globex.tenant_id} <= tenants_in(generate_latest(full.registry).decode())
    for api, other in ((acme, globex), (globex, acme)):
        text = api.client.get("/metrics", headers=api.headers("viewer")).text
        assert tenants_in(text) == {api.tenant_id}
        assert other.tenant_id not in text
        assert 'route="/v1/models"' in text


def test_metrics_listen_serves_every_series_without_a_key(make_settings) -> None:  # type: ignore[no-untyped-def]
    port = free_port()
    services = build(make_settings(metrics_per_tenant=True, metrics_listen=f"127.0.0.1:{port}"))
    try:
        acme, globex = make_api(services, "acme"), make_api(services, "globex")
        url = f"http://127.0.0.1:{port}/metrics"
        with acme.client:  # the app's lifespan opens the port, and closes it
            globex.client = type(acme.client)(acme.client.app)
            for api in (acme, globex):
                assert api.client.get("/v1/models", headers=api.headers()).status_code == 200
            response = httpx.get(url)
            assert response.status_code == 200
            assert {acme.tenant_id, globex.tenant_id} <= tenants_in(response.text)
            assert "ailayer_prediction_log_buffer_rows" in response.text
            globex.client.close()
        with pytest.raises(httpx.ConnectError):
            httpx.get(url)
    finally:
        services.close()


@pytest.mark.parametrize("value", ["9464", "localhost", "127.0.0.1:0", "127.0.0.1:70000", "h:x"])
def test_metrics_listen_must_be_host_and_port(make_settings, value) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationError) as refused:
        make_settings(metrics_listen=value)
    assert "metrics_listen" in str(refused.value)
