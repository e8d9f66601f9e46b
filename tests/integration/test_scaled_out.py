"""The scaled-out configuration end to end: PostgreSQL metadata and S3 artifacts."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from ailayer.api import create_app
from ailayer.bootstrap import build
from tests.support.services import scratch_postgres_database, tiny_sklearn_model, upload_form

pytestmark = pytest.mark.integration


def test_register_and_predict_on_postgres_and_s3(make_settings, s3_bucket) -> None:  # type: ignore[no-untyped-def]
    with scratch_postgres_database() as url:
        services = build(make_settings(metadata_url=url, artifacts=f"s3://{s3_bucket}/models"))
        try:
            tenant = services.keys.create_tenant("acme")
            key = services.keys.create_key(tenant, "admin", "admin").key
            headers = {"Authorization": f"Bearer {key}"}
            with TestClient(create_app(services)) as client:
                form = upload_form(tiny_sklearn_model(), aliases=["champion"])
                created = client.post("/v1/models/fraud/versions", headers=headers, **form)
                assert created.status_code == 201, created.text
                stored = services.registry.get_version(tenant, "fraud", 1).artifact_uri
                assert stored.startswith(f"s3://{s3_bucket}/models/t/")
                body = {"amount": 900.0, "card_age_days": 3.0}
                answer = client.post("/v1/predict/fraud", headers=headers, json=body)
                assert answer.status_code == 200, answer.text
                assert answer.json()["version"] == 1
        finally:
            services.close()
