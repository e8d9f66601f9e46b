"""S3 that refuses our credentials answers 503 naming the setting to check (the offline
store or the artifact store), never a client library's error as a 500.

moto's server run with ``INITIAL_NO_AUTH_ACTION_COUNT=0`` checks every request's key
against its (empty) IAM users, as AWS does with a wrong key."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from ailayer.api import create_app
from ailayer.bootstrap import build
from tests.support.s3server import running_s3_server
from tests.support.services import tiny_sklearn_model, upload_form

pytestmark = pytest.mark.integration


@pytest.fixture
def refusing_s3(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    with running_s3_server(env={"INITIAL_NO_AUTH_ACTION_COUNT": "0"}) as url:
        monkeypatch.setenv("AWS_ENDPOINT_URL", url)
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAWRONGWRONGWRONG0")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong")
        monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        yield url


def test_wrong_s3_credentials_are_503s_naming_the_store(make_settings, refusing_s3) -> None:  # type: ignore[no-untyped-def]
    services = build(
        make_settings(offline_store="s3://offline-bucket/data", artifacts="s3://models/all")
    )
    try:
        tenant = services.keys.create_tenant("acme")
        key = services.keys.create_key(tenant, "admin", "admin").key
        client = TestClient(create_app(services), raise_server_exceptions=False)
        headers = {"Authorization": f"Bearer {key}"}

        log = client.get("/v1/monitoring/fraud/performance", headers=headers)
        upload = client.post(
            "/v1/models/fraud/versions", headers=headers, **upload_form(tiny_sklearn_model())
        )

        for response, setting in ((log, "offline_store"), (upload, "artifacts")):
            assert response.status_code == 503, response.text
            assert int(response.headers["retry-after"]) > 0
            message = response.json()["error"]["message"]
            assert message.startswith(f"{setting} (S3) is unavailable"), message
        assert client.get("/v1/models", headers=headers).json() == []
    finally:
        services.close()
