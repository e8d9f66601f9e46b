"""A metadata database that goes down answers 503 with a retry hint, and the server
recovers by itself when it is back; nothing stored is lost."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from ailayer.api import create_app
from ailayer.bootstrap import build
from tests.support.services import scratch_postgres_database, tiny_sklearn_model, upload_form
from tests.support.tcp_proxy import TcpProxy

pytestmark = pytest.mark.integration


def test_postgres_outage_is_503_then_recovers(make_settings) -> None:  # type: ignore[no-untyped-def]
    with scratch_postgres_database() as url:
        proxy = TcpProxy("127.0.0.1", 5432)
        proxy.start()
        proxied = url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
        services = build(make_settings(metadata_url=proxied, auth_cache_seconds=0))
        try:
            tenant = services.keys.create_tenant("acme")
            headers = {
                "Authorization": f"Bearer {services.keys.create_key(tenant, 'a', 'admin').key}"
            }
            client = TestClient(create_app(services))
            form = upload_form(tiny_sklearn_model(), aliases=["champion"])
            assert (
                client.post("/v1/models/fraud/versions", headers=headers, **form).status_code == 201
            )

            proxy.stop()
            for path in ("/v1/models", "/readyz"):
                down = client.get(path, headers=headers)
                assert down.status_code == 503, down.text
                assert int(down.headers["retry-after"]) > 0
                assert "unavailable" in down.json()["error"]["message"]
            refused = client.post("/v1/models/fraud/versions", headers=headers, **form)
            assert refused.status_code == 503

            proxy.start()
            deadline = time.monotonic() + 10
            while (back := client.get("/v1/models", headers=headers)).status_code != 200:
                assert time.monotonic() < deadline, back.text
                time.sleep(0.2)
            assert [m["latest_version"] for m in back.json()] == [1]
            body = {"amount": 10.0, "card_age_days": 1.0}
            assert client.post("/v1/predict/fraud", headers=headers, json=body).status_code == 200
        finally:
            proxy.stop()
            services.close()


def test_predictions_are_answered_from_caches_while_postgres_restarts(make_settings) -> None:  # type: ignore[no-untyped-def]
    """A restart as the server sees it: open connections cut, new ones refused, then back."""
    with scratch_postgres_database() as url:
        proxy = TcpProxy("127.0.0.1", 5432)
        proxy.start()
        proxied = url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
        services = build(make_settings(metadata_url=proxied))
        try:
            tenant = services.keys.create_tenant("acme")
            key = services.keys.create_key(tenant, "a", "admin").key
            headers = {"Authorization": f"Bearer {key}"}
            client = TestClient(create_app(services))
            form = upload_form(tiny_sklearn_model(), aliases=["champion"])
            assert (
                client.post("/v1/models/fraud/versions", headers=headers, **form).status_code == 201
            )
            body = {"amount": 10.0, "card_age_days": 1.0}
            assert client.post("/v1/predict/fraud", headers=headers, json=body).status_code == 200

            proxy.stop()
            down_at = time.monotonic()
            answers, slowest = [], 0.0
            while time.monotonic() - down_at < 4.0:  # past every cache's TTL
                started = time.monotonic()
                answers.append(client.post("/v1/predict/fraud", headers=headers, json=body))
                slowest = max(slowest, time.monotonic() - started)
            control = client.get("/v1/models", headers=headers)
            proxy.start()

            assert {a.status_code for a in answers} == {200}, answers[-1].text
            assert slowest < 2.0  # nothing waits on the database
            assert control.status_code == 503
            assert "unavailable" in control.json()["error"]["message"]
            deadline = time.monotonic() + 10
            while client.get("/v1/models", headers=headers).status_code != 200:
                assert time.monotonic() < deadline, "did not recover by itself"
                time.sleep(0.2)
        finally:
            proxy.stop()
            services.close()
