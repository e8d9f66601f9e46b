"""Registry routes: upload, list, show, aliases with their audit trail, archive, OpenAPI."""

from __future__ import annotations

import json
import pickle

import pytest

from tests.support.services import tiny_sklearn_model, upload_form


def test_upload_numbers_versions_and_keeps_metadata(api) -> None:  # type: ignore[no-untyped-def]
    first = api.register(
        "fraud",
        params={"C": 1.0},
        metrics={"auc": 0.91},
        tags={"team": "risk"},
        description="first",
        dataset_version="ds-1",
        feature_refs=["payments:amount"],
        code_version="abc123",
        pipeline_run="run-7",
    )
    assert first.status_code == 201, first.text
    second = api.register("fraud", tiny_sklearn_model(seed=3), role="developer")
    assert (first.json()["version"], second.json()["version"]) == (1, 2)
    shown = api.client.get("/v1/models/fraud/versions/1", headers=api.headers("viewer")).json()
    assert shown["metrics"] == {"auc": 0.91}
    assert shown["dataset_version"] == "ds-1"
    assert shown["feature_refs"] == ["payments:amount"]
    assert (shown["code_version"], shown["pipeline_run"]) == ("abc123", "run-7")
    assert len(shown["artifact_sha256"]) == 64
    assert shown["created_by"].startswith("admin-key")


def test_list_and_show(api) -> None:  # type: ignore[no-untyped-def]
    api.register("fraud", aliases=["champion"])
    api.register("churn")
    listed = api.client.get("/v1/models", headers=api.headers("viewer")).json()
    assert [m["name"] for m in listed] == ["churn", "fraud"]
    assert listed[1]["aliases"] == {"champion": 1}
    detail = api.client.get("/v1/models/fraud", headers=api.headers("viewer")).json()
    assert [v["version"] for v in detail["versions"]] == [1]
    assert detail["versions"][0]["aliases"] == ["champion"]


def test_alias_moves_are_audited_with_who_and_when(api) -> None:  # type: ignore[no-untyped-def]
    api.register("fraud", aliases=["champion"])
    api.register("fraud")
    moved = api.client.put(
        "/v1/models/fraud/aliases/champion", headers=api.headers("developer"), json={"version": 2}
    )
    assert moved.json() == {"model": "fraud", "alias": "champion", "version": 2}
    history = api.client.get("/v1/models/fraud/alias-history", headers=api.headers()).json()
    assert [(h["detail"]["from_version"], h["detail"]["to_version"]) for h in history] == [
        (1, 2),
        (None, 1),
    ]
    assert history[0]["actor"].startswith("developer-key")
    assert history[0]["at"]


def test_alias_to_missing_version_is_404_and_keeps_the_old_target(api) -> None:  # type: ignore[no-untyped-def]
    api.register("fraud", aliases=["champion"])
    response = api.client.put(
        "/v1/models/fraud/aliases/champion", headers=api.headers(), json={"version": 9}
    )
    assert response.status_code == 404
    model = api.client.get("/v1/models/fraud", headers=api.headers()).json()
    assert model["aliases"] == {"champion": 1}


def test_archive_refuses_a_version_holding_an_alias(api) -> None:  # type: ignore[no-untyped-def]
    api.register("fraud", aliases=["champion"])
    api.register("fraud")
    held = api.client.post("/v1/models/fraud/versions/1/archive", headers=api.headers())
    assert held.status_code == 409
    assert "champion" in held.json()["error"]["message"]
    archived = api.client.post("/v1/models/fraud/versions/2/archive", headers=api.headers())
    assert archived.json()["archived"] is True
    refused = api.client.put(
        "/v1/models/fraud/aliases/champion", headers=api.headers(), json={"version": 2}
    )
    assert refused.status_code == 409


@pytest.mark.parametrize(
    ("artifact", "meta", "field", "words"),
    [
        (pickle.dumps({"a": 1}), {"flavor": "sklearn"}, "artifact", "pickle"),
        (b"not a model", {"flavor": "sklearn"}, "artifact", "skops"),
        (b"x", {"flavor": "catboost"}, "flavor", "known flavors"),
        (None, {"flavor": "sklearn", "signature": {"inputs": []}}, "signature.inputs", "non-empty"),
        (None, {"flavor": "sklearn", "metrics": {"auc": "high"}}, "metrics.auc", "number"),
    ],
)
def test_bad_uploads_are_refused_and_store_nothing(api, artifact, meta, field, words) -> None:  # type: ignore[no-untyped-def]
    tiny = tiny_sklearn_model()
    form = upload_form(tiny)
    metadata = {"signature": tiny.signature, **meta}
    form["data"]["metadata"] = json.dumps(metadata)
    if artifact is not None:
        form["files"] = {"artifact": ("model.bin", artifact)}
    response = api.client.post("/v1/models/fraud/versions", headers=api.headers(), **form)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["field"] == field
    assert words in error["message"]
    assert api.client.get("/v1/models", headers=api.headers()).json() == []


def test_malformed_metadata_json_is_refused(api) -> None:  # type: ignore[no-untyped-def]
    form = upload_form(tiny_sklearn_model())
    form["data"]["metadata"] = "{oops"
    response = api.client.post("/v1/models/fraud/versions", headers=api.headers(), **form)
    assert response.status_code == 422
    assert "metadata" in response.json()["error"]["message"]


def test_every_route_is_in_openapi_with_error_responses(api) -> None:  # type: ignore[no-untyped-def]
    spec = api.client.get("/openapi.json").json()
    routes = {(method.upper(), path) for path, item in spec["paths"].items() for method in item}
    app_routes = {
        (method, route.path)
        for route in api.client.app.routes
        if getattr(route, "include_in_schema", False)
        for method in route.methods - {"HEAD"}
    }
    assert app_routes <= routes
    predict = spec["paths"]["/v1/predict/{endpoint}"]["post"]
    assert {"401", "403", "404", "413", "422", "503"} <= set(predict["responses"])
    assert "requestBody" in predict
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if not path.startswith("/v1/"):
                continue
            assert "401" in operation["responses"], (method, path)
