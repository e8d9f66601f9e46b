"""The console while the metadata database is down: a 503 page naming it (with a retry
hint), no redirect to sign-in (the session is not lost), and the same session works when
the database is back."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from ailayer.bootstrap import build
from tests.support.api import make_api
from tests.support.console import canary_on_fraud, sign_in
from tests.support.deployments import RECORD
from tests.support.services import scratch_postgres_database
from tests.support.tcp_proxy import TcpProxy

pytestmark = pytest.mark.integration


def test_a_metadata_outage_is_a_page_naming_it_and_the_session_survives(make_settings) -> None:  # type: ignore[no-untyped-def]
    with scratch_postgres_database() as url:
        proxy = TcpProxy("127.0.0.1", 5432)
        proxy.start()
        proxied = url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
        services = build(make_settings(metadata_url=proxied))
        api = make_api(services)
        try:
            client = sign_in(TestClient(api.client.app), api.keys["viewer"])
            assert client.get("/ui/models").status_code == 200

            proxy.stop()
            down = client.get("/ui/models", follow_redirects=False)
            assert down.status_code == 503 and int(down.headers["retry-after"]) > 0
            assert "A backend is unavailable" in down.text and "metadata" in down.text

            proxy.start()
            deadline = time.monotonic() + 10
            while (back := client.get("/ui/models", follow_redirects=False)).status_code != 200:
                assert time.monotonic() < deadline, back.text
                time.sleep(0.2)
            assert "<h1>Models</h1>" in back.text
        finally:
            proxy.stop()
            api.client.close()
            services.close()


def test_the_prediction_log_store_down_is_named_where_its_numbers_would_be(  # type: ignore[no-untyped-def]
    make_settings, s3_bucket: str, s3_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    host, port = s3_endpoint.removeprefix("http://").split(":")
    proxy = TcpProxy(host, int(port))
    proxy.start()
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{proxy.port}")
    services = build(make_settings(offline_store=f"s3://{s3_bucket}/offline"))
    api = make_api(services)
    try:
        canary_on_fraud(api)
        answer = api.client.post("/v1/predict/fraud", json=RECORD, headers=api.headers("service"))
        assert answer.status_code == 200, answer.text
        services.prediction_log.flush()
        client = sign_in(TestClient(api.client.app), api.keys["developer"])
        up = client.get("/ui/")
        assert up.status_code == 200 and 'data-metric="requests-day">1<' in up.text

        proxy.stop()
        page = client.get("/ui/")
        assert page.status_code == 200, page.text
        assert 'data-endpoint="fraud"' in page.text and "canary · active" in page.text
        assert "the prediction log unavailable" in page.text
        assert "Nothing fires now" in page.text  # from the metadata store, which is up
        deployment = client.get("/ui/deployments/fraud")
        assert deployment.status_code == 200
        assert "The prediction log is unavailable" in deployment.text
        assert 'data-action="rollback"' in deployment.text  # acting needs no log
        assert client.get("/ui/models/fraud").status_code == 200
    finally:
        proxy.stop()
        api.client.close()
        services.close()
