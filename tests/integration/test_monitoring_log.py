"""The prediction log in a real server: uvicorn runs the lifespan (so the writer), the
metadata store is the real PostgreSQL (PII salts), and nothing is flushed by hand."""

from __future__ import annotations

import time

import httpx
import orjson
import pytest

from ailayer.api import create_app
from ailayer.bootstrap import build
from tests.support.services import (
    live_server,
    scratch_postgres_database,
    tiny_sklearn_model,
    upload_form,
)

pytestmark = pytest.mark.integration


def test_served_predictions_reach_the_log_and_take_feedback(make_settings) -> None:  # type: ignore[no-untyped-def]
    with scratch_postgres_database() as url:
        services = build(make_settings(metadata_url=url))
        try:
            tenant = services.keys.create_tenant("acme")
            key = services.keys.create_key(tenant, "admin", "admin").key
            headers = {"Authorization": f"Bearer {key}"}
            with live_server(create_app(services)) as base, httpx.Client(base_url=base) as http:
                form = upload_form(
                    tiny_sklearn_model(), aliases=["champion"], tags={"pii": "amount"}
                )
                assert (
                    http.post("/v1/models/fraud/versions", headers=headers, **form).status_code
                    == 201
                )
                record = {"amount": 900.0, "card_age_days": 3.0}
                answered = http.post("/v1/predict/fraud", headers=headers, json=record).json()
                [item] = answered["predictions"]
                deadline = time.monotonic() + 5
                while not len(services.prediction_log.query(tenant, "fraud")):
                    assert time.monotonic() < deadline, "the writer did not flush within 5 s"
                    time.sleep(0.05)
                label = {"prediction_id": item["prediction_id"], "label": True}
                assert (
                    http.post("/v1/feedback", headers=headers, json=label).json()["accepted"] == 1
                )
            [row] = services.prediction_log.query(tenant, "fraud").to_pylist()
            features = orjson.loads(row["features"])
            assert features["amount"].startswith("sha256:") and features["card_age_days"] == 3.0
            assert row["prediction_id"] == item["prediction_id"]
        finally:
            services.close()
