"""Deployments through the real app: HTTP shapes, refusals that change nothing, routing of
predictions by variant, the variant in the prediction log, and a rollback reaching a
second server within 2 seconds."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ailayer.api import create_app
from ailayer.bootstrap import build
from ailayer.rollout.policy import Policy
from ailayer.rollout.router import Router
from tests.support.api import make_api
from tests.support.deployments import RECORD, deploy, two_versions, variant


@pytest.fixture
def fraud(api):  # type: ignore[no-untyped-def]
    two_versions(api)
    return api


def predict(api, body, endpoint="checkout"):  # type: ignore[no-untyped-def]
    response = api.client.post(f"/v1/predict/{endpoint}", json=body, headers=api.headers("service"))
    assert response.status_code == 200, response.text
    return response.json()


def sticky_ab() -> dict:
    """An even A/B split of versions 1 (``a``) and 2 (``b``), sticky on ``user_id``."""
    return {
        "kind": "ab",
        "sticky_key": "user_id",
        "variants": [variant("a", 1, 50), variant("b", 2, 50)],
    }


def canary(**plan):  # type: ignore[no-untyped-def]
    variants = [variant("stable", 1), variant("canary", 2)]
    for v in variants:
        v.pop("share")
    return {"kind": "canary", "variants": variants, "canary": plan or None}


def test_a_single_deployment_answers_in_the_usual_shape(fraud) -> None:  # type: ignore[no-untyped-def]
    response = deploy(fraud, "checkout", {"variants": [variant("main", 2, 100)]})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["endpoint"] == "checkout" and body["shadow"] == {}
    assert (body["policy"]["kind"], body["policy"]["revision"]) == ("single", 1)
    answer = predict(fraud, RECORD)
    assert (answer["model"], answer["version"], answer["alias"]) == ("fraud", 2, "main")
    assert set(answer["predictions"][0]) == {"prediction_id", "prediction", "score"}


def test_without_a_deployment_the_alias_routes(fraud) -> None:  # type: ignore[no-untyped-def]
    answer = predict(fraud, RECORD, endpoint="fraud")
    assert (answer["version"], answer["alias"]) == (1, "champion")


def test_a_request_spanning_variants_is_split_and_put_back_in_order(fraud) -> None:  # type: ignore[no-untyped-def]
    body = sticky_ab()
    stored = deploy(fraud, "checkout", body).json()["policy"]
    records = [{**RECORD, "user_id": f"u{i}"} for i in range(60)]
    answer = predict(fraud, records)
    assert set(answer) == {"endpoint", "predictions"}
    items = answer["predictions"]
    router = Router(fraud.tenant_id, Policy.from_dict(stored))
    expected = ["ab"[i] for i in router.assign(records)]
    assert [item["variant"] for item in items] == expected
    assert {item["version"] for item in items if item["variant"] == "a"} == {1}
    assert {item["version"] for item in items if item["variant"] == "b"} == {2}
    first = {item["variant"]: item["prediction"] for item in items}
    assert first["a"] != first["b"]  # version 2 answers the opposite
    again = predict(fraud, records)["predictions"]
    assert [item["variant"] for item in again] == expected  # sticky


def test_the_prediction_log_names_the_variant(fraud) -> None:  # type: ignore[no-untyped-def]
    body = sticky_ab()
    deploy(fraud, "checkout", body)
    predict(fraud, [{**RECORD, "user_id": i} for i in range(40)])
    fraud.services.prediction_log.flush()
    rows = fraud.services.prediction_log.query(fraud.tenant_id, "checkout").to_pylist()
    assert {(r["alias"], r["version"]) for r in rows} == {("a", 1), ("b", 2)}
    assert len(rows) == 40


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        (
            {"kind": "ab", "variants": [variant("a", 1, 60), variant("b", 2, 30)]},
            422,
            "variants.share",
        ),
        ({"variants": [variant("main", 7, 100)]}, 404, "variants"),
        (canary(steps=[5, 50]), 422, "canary.steps"),
        (canary(steps=[0, 100]), 422, "canary.steps"),
        ({"variants": [variant("main", 1, 100)], "revision": 3}, 422, "revision"),
        ({"variants": [variant("main", 1, 100, shadow=True)]}, 422, "variants.share"),
        (
            {"variants": [{"name": "main", "model": "fraud", "version": "one"}]},
            422,
            "variants.0.version",
        ),
    ],
)
def test_bad_deployments_name_the_field_and_change_nothing(fraud, body, status, field) -> None:  # type: ignore[no-untyped-def]
    assert deploy(fraud, "checkout", {"variants": [variant("main", 1, 100)]}).status_code == 200
    response = deploy(fraud, "checkout", body)
    assert response.status_code == status, response.text
    assert response.json()["error"]["field"] == field
    current = fraud.client.get("/v1/endpoints/checkout/deployment", headers=fraud.headers())
    assert current.json()["policy"]["revision"] == 1


def test_another_tenants_version_is_not_found(fraud) -> None:  # type: ignore[no-untyped-def]
    other = make_api(fraud.services, "globex")
    response = deploy(other, "checkout", {"variants": [variant("main", 1, 100)]})
    assert response.status_code == 404
    assert "variant 'main'" in response.json()["error"]["message"]
    other.client.close()


def test_roles_deploying_needs_what_endpoints_need(fraud) -> None:  # type: ignore[no-untyped-def]
    body = {"variants": [variant("main", 1, 100)]}
    assert deploy(fraud, "checkout", body, role="viewer").status_code == 403
    assert deploy(fraud, "checkout", body, role="service").status_code == 403
    assert deploy(fraud, "checkout", body, role="developer").status_code == 200
    read = fraud.client.get("/v1/endpoints/checkout/deployment", headers=fraud.headers("viewer"))
    assert read.status_code == 200
    rollback = fraud.client.post(
        "/v1/endpoints/checkout/deployment/rollback", headers=fraud.headers("viewer")
    )
    assert rollback.status_code == 403


def test_a_model_that_does_not_load_is_refused_and_the_old_policy_serves(fraud) -> None:  # type: ignore[no-untyped-def]
    deploy(fraud, "checkout", {"variants": [variant("main", 1, 100)]})
    assert fraud.register("fraud").status_code == 201  # version 3, then its file damaged
    uri = fraud.services.registry.get_version(fraud.tenant_id, "fraud", 3).artifact_uri
    path = Path(uri.removeprefix("file://"))
    path.write_bytes(path.read_bytes()[:-10] + b"x" * 10)
    body = {"kind": "ab", "variants": [variant("main", 1, 50), variant("next", 3, 50)]}
    response = deploy(fraud, "checkout", body)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["field"] == "variants" and "variant 'next'" in error["message"]
    assert predict(fraud, RECORD)["alias"] == "main"
    history = fraud.client.get("/v1/endpoints/checkout/deployment/history", headers=fraud.headers())
    assert [h["revision"] for h in history.json()] == [1]


def test_promote_rollback_and_history_over_http(fraud) -> None:  # type: ignore[no-untyped-def]
    base = "/v1/endpoints/checkout/deployment"
    body = canary(steps=[10, 50, 100])
    body["sticky_key"] = "user_id"
    started = deploy(fraud, "checkout", body).json()["policy"]
    assert {v["name"]: v["share"] for v in started["variants"]} == {"stable": 90, "canary": 10}
    promoted = fraud.client.post(f"{base}/promote", headers=fraud.headers()).json()
    assert promoted["policy"]["variants"][1]["share"] == 50
    bad = fraud.client.post(f"{base}/promote", json={"to": 70}, headers=fraud.headers())
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "to"
    rolled = fraud.client.post(
        f"{base}/rollback", json={"reason": "p99 up"}, headers=fraud.headers()
    )
    assert rolled.status_code == 200
    policy = rolled.json()["policy"]
    assert (policy["state"], policy["reason"]) == ("rolled_back", "p99 up")
    answers = predict(fraud, [{**RECORD, "user_id": i} for i in range(30)])
    assert answers["alias"] == "stable" and answers["version"] == 1  # at once in this server
    history = fraud.client.get(f"{base}/history", headers=fraud.headers()).json()
    assert [(h["revision"], h["policy"]["state"]) for h in history] == [
        (3, "rolled_back"),
        (2, "active"),
        (1, "active"),
    ]
    assert history[0]["reason"] == "p99 up"
    missing = fraud.client.get("/v1/endpoints/nowhere/deployment", headers=fraud.headers())
    assert missing.status_code == 404


def test_a_rollback_reaches_another_server_within_two_seconds(
    fraud, make_settings, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    first = fraud.services.settings
    second = build(
        make_settings(
            home=tmp_path / "second",
            metadata_url=first.metadata_url,
            artifacts=first.artifacts,
            offline_store=first.offline_store,
        )
    )
    try:
        other = TestClient(create_app(second))
        headers = fraud.headers("service")
        records = [{**RECORD, "user_id": i} for i in range(50)]

        def variants_seen() -> set[str]:
            answer = other.post("/v1/predict/checkout", json=records, headers=headers).json()
            if "alias" in answer:
                return {answer["alias"]}
            return {item["variant"] for item in answer["predictions"]}

        body = canary(steps=[50, 100])
        body["sticky_key"] = "user_id"
        deploy(fraud, "checkout", body)
        assert variants_seen() == {"stable", "canary"}
        fraud.client.post("/v1/endpoints/checkout/deployment/rollback", headers=fraud.headers())
        rolled_at = time.monotonic()
        while variants_seen() != {"stable"}:
            assert time.monotonic() - rolled_at < 2.0, "rollback not seen within 2 s"
            time.sleep(0.05)
        other.close()
    finally:
        second.close()


def test_a_request_spanning_variants_answers_in_columns_in_its_order(fraud) -> None:  # type: ignore[no-untyped-def]
    body = sticky_ab()
    deploy(fraud, "checkout", body)
    records = [{**RECORD, "user_id": f"u{i}"} for i in range(40)]
    items = predict(fraud, records)["predictions"]
    response = fraud.client.post(
        "/v1/predict/checkout?columns=true", json=records, headers=fraud.headers("service")
    )
    assert response.status_code == 200, response.text
    answer = response.json()

    assert set(answer) == {"endpoint", "columns"}
    columns = answer["columns"]
    assert columns["variant"] == [item["variant"] for item in items]
    assert columns["version"] == [item["version"] for item in items]
    assert columns["prediction"] == [item["prediction"] for item in items]
