"""apply → materialize → predict by entity key, on the embedded SQLite online store and
on the real Redis: the model gets its features from the online store and on-demand
transforms, and `?explain_features=true` shows what it used."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
import redis
import skops.io as sio
from fastapi.testclient import TestClient
from sklearn.linear_model import LogisticRegression

from ailayer.api import create_app
from ailayer.bootstrap import build
from tests.support import feature_repo
from tests.support.services import upload_form

pytestmark = pytest.mark.integration

INPUTS = ["avg_amount", "txn_count", "risk", "amount_ratio"]
REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture(params=["sqlite", "redis"])
def online_store(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:  # type: ignore[no-untyped-def]
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'online.db'}"
        return
    prefix = f"ailayer-test-{uuid.uuid4().hex[:10]}:"
    yield f"{REDIS_URL}?prefix={prefix}"
    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(match=f"{prefix}*", count=1000):
        client.delete(key)
    client.close()


def hours_ago(hours: float) -> float:
    """Hours after the feature repo's T0 that lie ``hours`` before now (fresh within TTLs)."""
    return (datetime.now(UTC) - feature_repo.T0) / timedelta(hours=1) - hours


def fraud_model() -> LogisticRegression:
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 10, size=(300, len(INPUTS)))
    y = x[:, 3] > 2
    estimator = LogisticRegression(max_iter=500).fit(x, y)
    return estimator


def test_prediction_by_entity_key(make_settings, online_store) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(online_store=online_store, feature_repo="tests.support.feature_repo")
    services = build(settings)
    try:
        tenant = services.keys.create_tenant("acme")
        key = services.keys.create_key(tenant, "admin", "admin").key
        headers = {"Authorization": f"Bearer {key}"}
        root = services.offline.tenant_root(tenant)
        feature_repo.write_customer_stats(
            root, [(1, hours_ago(3), 10.0, 4), (1, hours_ago(1), 20.0, 5)]
        )
        feature_repo.write_merchant_risk(root, [("m1", hours_ago(2), 0.3)])
        with TestClient(create_app(services)) as client:
            specs = {"definitions": [d.to_spec() for d in feature_repo.REPO]}
            applied = client.post("/v1/features/apply", headers=headers, json=specs)
            assert applied.status_code == 200, applied.text
            now = datetime.now(UTC)
            services.materializer.materialize(tenant, None, now - timedelta(days=2), now)

            estimator = fraud_model()
            tiny_signature = {"inputs": [{"name": n, "type": "double"} for n in INPUTS]}
            form = upload_form(
                type("M", (), {"artifact": sio.dumps(estimator), "signature": tiny_signature})(),
                aliases=["champion"],
                feature_refs=["fraud"],
            )
            assert (
                client.post("/v1/models/fraud/versions", headers=headers, **form).status_code == 201
            )

            body = {"customer_id": 1, "merchant_id": "m1", "amount": 60.0}
            answer = client.post(
                "/v1/predict/fraud?explain_features=true", headers=headers, json=body
            )
            assert answer.status_code == 200, answer.text
            [item] = answer.json()["predictions"]
            assert item["features"] == {
                "avg_amount": 20.0,
                "txn_count": 5,
                "risk": 0.3,
                "amount_ratio": 3.0,
            }
            expected = estimator.predict_proba(np.array([[20.0, 5, 0.3, 3.0]]))[0, 1]
            assert item["score"] == pytest.approx(expected)

            unknown = client.post(
                "/v1/predict/fraud", headers=headers, json={**body, "customer_id": 99}
            )
            assert unknown.status_code == 422
            assert "txn_count" in unknown.json()["error"]["message"]
            wrong_type = client.post(
                "/v1/predict/fraud", headers=headers, json={**body, "customer_id": "one"}
            )
            assert wrong_type.status_code == 422
            assert "customer_id" in wrong_type.json()["error"]["message"]

            online = client.post(
                "/v1/features/online",
                headers=headers,
                json={"features": "fraud", "entity_rows": [body]},
            )
            assert online.json()["rows"][0]["avg_amount"] == 20.0
    finally:
        services.close()
