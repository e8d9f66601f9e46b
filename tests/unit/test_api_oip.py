"""The Open Inference Protocol v2 routes through the real app: infer over an endpoint,
version pins, metadata, readiness, keys and tenancy, and errors in the protocol's shape."""

from __future__ import annotations

import json

import numpy as np
import orjson
import pytest
import skops.io as sio
from sklearn.linear_model import LogisticRegression

from tests.support.api import make_api
from tests.support.services import TinyModel, tiny_sklearn_model

ROWS = [[900.0, 3.0], [20.0, 300.0], [700.0, 50.0]]


def columns(rows: list[list[float]] = ROWS, datatype: str = "FP64") -> list[dict]:
    n = len(rows)
    return [
        {"name": "amount", "shape": [n], "datatype": datatype, "data": [r[0] for r in rows]},
        {"name": "card_age_days", "shape": [n, 1], "datatype": datatype, "data": [[r[1]] for r in rows]},
    ]  # fmt: skip


@pytest.fixture
def fraud(api) -> TinyModel:  # type: ignore[no-untyped-def]
    tiny = tiny_sklearn_model()
    assert api.register("fraud", tiny, aliases=["champion"]).status_code == 201
    return tiny


def infer(api, body, path="/v2/models/fraud/infer", role="service", **kwargs):  # type: ignore[no-untyped-def]
    headers = {**api.headers(role), **kwargs.pop("headers", {})}
    if body is not None:
        kwargs["content"] = orjson.dumps(body)
    return api.client.post(path, headers=headers, **kwargs)


def output(response_body: dict, name: str) -> dict:
    return next(o for o in response_body["outputs"] if o["name"] == name)


def test_infer_answers_like_the_model_with_the_id_echoed(api, fraud) -> None:  # type: ignore[no-untyped-def]
    response = infer(api, {"id": "req-7", "inputs": columns()})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["model_name"], body["model_version"], body["id"]) == ("fraud", "1", "req-7")
    expected = fraud.estimator.predict_proba(np.array(ROWS))[:, 1]
    score = output(body, "score")
    assert (score["datatype"], score["shape"]) == ("FP64", [3])
    assert score["data"] == pytest.approx(expected.tolist())
    predict = output(body, "predict")
    assert predict == {"name": "predict", "shape": [3], "datatype": "BOOL",
                       "data": [bool(s >= 0.5) for s in expected]}  # fmt: skip
    assert body["parameters"]["variant"] == "champion" and body["parameters"]["model"] == "fraud"


def test_a_single_2d_tensor_gives_the_same_answer(api, fraud) -> None:  # type: ignore[no-untyped-def]
    by_column = infer(api, {"inputs": columns()}).json()
    matrix = {"name": "input-0", "shape": [3, 2], "datatype": "FP32", "data": ROWS}
    by_matrix = infer(api, {"inputs": [matrix]}).json()
    assert output(by_matrix, "score")["data"] == output(by_column, "score")["data"]


def test_requested_outputs_only(api, fraud) -> None:  # type: ignore[no-untyped-def]
    body = infer(api, {"inputs": columns(), "outputs": [{"name": "score"}]}).json()
    assert [o["name"] for o in body["outputs"]] == ["score"]
    absent = infer(api, {"inputs": columns(), "outputs": [{"name": "probabilities"}]})
    assert absent.status_code == 400
    assert "probabilities" in absent.json()["error"]


def test_v2_predictions_are_logged_and_take_feedback(api, fraud) -> None:  # type: ignore[no-untyped-def]
    body = infer(api, {"inputs": columns()}).json()
    ids = body["parameters"]["prediction_ids"].split(",")
    assert len(set(ids)) == 3
    api.services.prediction_log.flush()
    rows = api.services.prediction_log.query(api.tenant_id, "fraud").to_pylist()
    assert [r["prediction_id"] for r in rows] == ids
    assert [orjson.loads(r["features"]) for r in rows] == [
        {"amount": a, "card_age_days": d} for a, d in ROWS
    ]
    labels = [{"prediction_id": i, "label": True} for i in ids]
    accepted = api.client.post("/v1/feedback", headers=api.headers("service"), json=labels)
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["accepted"] == 3


def test_a_version_pin_serves_that_version_and_the_endpoint_keeps_its_alias(api, fraud) -> None:  # type: ignore[no-untyped-def]
    flipped = tiny_sklearn_model(flip=True)
    assert api.register("fraud", flipped).status_code == 201
    pinned = infer(api, {"inputs": columns()}, "/v2/models/fraud/versions/2/infer").json()
    assert pinned["model_version"] == "2" and pinned["parameters"]["variant"] == "pinned"
    expected = flipped.estimator.predict_proba(np.array(ROWS))[:, 1]
    assert output(pinned, "score")["data"] == pytest.approx(expected.tolist())
    routed = infer(api, {"inputs": columns()}).json()
    assert routed["model_version"] == "1"
    api.services.prediction_log.flush()
    logged = api.services.prediction_log.query(api.tenant_id, "fraud").to_pylist()
    assert [(r["version"], r["alias"]) for r in logged] == [(2, "pinned")] * 3 + [
        (1, "champion")
    ] * 3


def test_unknown_and_archived_versions_are_404_in_the_protocol_shape(api, fraud) -> None:  # type: ignore[no-untyped-def]
    missing = infer(api, {"inputs": columns()}, "/v2/models/fraud/versions/9/infer")
    assert missing.status_code == 404
    assert missing.json() == {"error": "model 'fraud' has no version 9"}
    assert api.register("fraud", tiny_sklearn_model(seed=2)).status_code == 201
    archived = api.client.post("/v1/models/fraud/versions/2/archive", headers=api.headers())
    assert archived.status_code == 200, archived.text
    gone = infer(api, {"inputs": columns()}, "/v2/models/fraud/versions/2/infer")
    assert gone.status_code == 404 and "archived" in gone.json()["error"]
    not_a_number = infer(api, {"inputs": columns()}, "/v2/models/fraud/versions/two/infer")
    assert not_a_number.status_code == 400 and "version" in not_a_number.json()["error"]


@pytest.mark.parametrize(
    ("inputs", "named"),
    [
        ([{**columns()[0], "shape": [4]}, columns()[1]], "amount"),
        ([columns()[0], {**columns()[1], "datatype": "BYTES"}], "card_age_days"),
        ([columns()[0]], "card_age_days"),
        ([*columns(), {"name": "colour", "shape": [3], "datatype": "BYTES", "data": ["a"] * 3}], "colour"),
        ([{**columns()[0], "datatype": "INT8", "data": [900, 20, 700]}, columns()[1]], "amount"),
    ],
)  # fmt: skip
def test_bad_tensors_are_400_naming_the_input(api, fraud, inputs, named) -> None:  # type: ignore[no-untyped-def]
    response = infer(api, {"inputs": inputs})
    assert response.status_code == 400
    body = response.json()
    assert list(body) == ["error"] and isinstance(body["error"], str)
    assert repr(named) in body["error"]


def test_a_datatype_mismatch_names_both_types(api, fraud) -> None:  # type: ignore[no-untyped-def]
    inputs = [columns()[0], {**columns()[1], "datatype": "BOOL", "data": [[True]] * 3}]
    error = infer(api, {"inputs": inputs}).json()["error"]
    assert "'card_age_days'" in error and "BOOL" in error and "double" in error


@pytest.mark.parametrize(
    ("content", "headers", "status", "says"),
    [
        (b"{not json", {}, 400, "JSON"),
        (b"[]", {}, 400, "inputs"),
        (b'{"inputs": []}', {"Content-Type": "text/plain"}, 415, "application/json"),
        (b'{"inputs": []}', {"Inference-Header-Content-Length": "14"}, 400, "binary"),
        (b'{"inputs": []}', {"Content-Encoding": "gzip"}, 400, "gzip"),
    ],
)
def test_malformed_requests_are_answered_in_the_protocol_shape(  # type: ignore[no-untyped-def]
    api, fraud, content, headers, status, says
) -> None:
    response = infer(api, None, content=content, headers=headers)
    assert response.status_code == status
    assert says in response.json()["error"]


def test_keys_roles_and_tenants(api, fraud) -> None:  # type: ignore[no-untyped-def]
    body = orjson.dumps({"inputs": columns()})
    anonymous = api.client.post("/v2/models/fraud/infer", content=body)
    assert anonymous.status_code == 401 and isinstance(anonymous.json()["error"], str)
    assert infer(api, {"inputs": columns()}, role="viewer").status_code == 403
    assert api.client.get("/v2/models/fraud", headers=api.headers("viewer")).status_code == 403
    other = make_api(api.services, "globex")
    try:
        for path in ("/v2/models/fraud", "/v2/models/fraud/ready"):
            assert other.client.get(path, headers=other.headers("service")).status_code == 404
        stranger = infer(other, {"inputs": columns()})
        assert stranger.status_code == 404 and "fraud" in stranger.json()["error"]
    finally:
        other.client.close()
    x_api_key = api.client.get("/v2/models/fraud", headers={"X-API-Key": api.keys["service"]})
    assert x_api_key.status_code == 200


def test_model_metadata_from_the_signature(api, fraud) -> None:  # type: ignore[no-untyped-def]
    assert api.register("fraud", tiny_sklearn_model(seed=3)).status_code == 201
    response = api.client.get("/v2/models/fraud", headers=api.headers("service"))
    assert response.status_code == 200, response.text
    assert response.json() == {
        "name": "fraud",
        "versions": ["1", "2"],
        "platform": "sklearn",
        "inputs": [
            {"name": "amount", "datatype": "FP64", "shape": [-1]},
            {"name": "card_age_days", "datatype": "FP64", "shape": [-1]},
        ],
        "outputs": [],
    }
    pinned = api.client.get("/v2/models/fraud/versions/2", headers=api.headers("service"))
    assert pinned.status_code == 200 and pinned.json()["name"] == "fraud"
    unknown = api.client.get("/v2/models/nope", headers=api.headers("service"))
    assert unknown.status_code == 404 and "nope" in unknown.json()["error"]


def test_model_ready_loads_the_model(api, fraud) -> None:  # type: ignore[no-untyped-def]
    models = api.services.predictor.models
    target = api.services.predictor.resolver.resolve(api.tenant_id, "fraud")
    assert models.get(api.tenant_id, target.key) is None
    response = api.client.get("/v2/models/fraud/ready", headers=api.headers("service"))
    assert response.status_code == 200 and response.json() == {"name": "fraud", "ready": True}
    assert models.get(api.tenant_id, target.key) is not None
    version = api.client.get("/v2/models/fraud/versions/1/ready", headers=api.headers("service"))
    assert version.status_code == 200
    missing = api.client.get("/v2/models/fraud/versions/5/ready", headers=api.headers("service"))
    assert missing.status_code == 404


def test_health_needs_no_key_and_server_metadata_needs_one(api) -> None:  # type: ignore[no-untyped-def]
    assert api.client.get("/v2/health/live").json() == {"live": True}
    assert api.client.get("/v2/health/ready").json() == {"ready": True}
    assert api.client.get("/v2").status_code == 401
    metadata = api.client.get("/v2", headers=api.headers("viewer")).json()
    assert metadata["name"] == "ailayer" and metadata["extensions"] == []


def test_an_unknown_v2_path_is_404_in_the_protocol_shape(api) -> None:  # type: ignore[no-untyped-def]
    response = api.client.get("/v2/repository/index", headers=api.headers())
    assert response.status_code == 404 and isinstance(response.json()["error"], str)
    native = api.client.get("/v1/nothing-here", headers=api.headers())
    assert native.json()["error"]["code"] == "not_found"


def test_probabilities_of_a_multiclass_model_carry_the_class_names(api) -> None:  # type: ignore[no-untyped-def]
    x = np.array([[0.0, 0.0], [1.0, 1.0], [5.0, 5.0], [5.2, 4.9], [9.0, 9.0], [9.1, 8.8]])
    estimator = LogisticRegression(max_iter=500).fit(
        x, ["low", "low", "mid", "mid", "high", "high"]
    )
    signature = {"inputs": [{"name": "a", "type": "double"}, {"name": "b", "type": "double"}]}
    model = TinyModel(sio.dumps(estimator), signature, estimator)
    assert api.register("tiers", model, aliases=["champion"]).status_code == 201
    matrix = {"name": "x", "shape": [2, 2], "datatype": "FP64", "data": [[0.5, 0.5], [9.0, 9.0]]}
    body = infer(api, {"inputs": [matrix]}, "/v2/models/tiers/infer").json()
    probabilities = output(body, "probabilities")
    classes = json.loads(probabilities["parameters"]["classes"])
    assert sorted(classes) == ["high", "low", "mid"] and probabilities["shape"] == [2, 3]
    expected = estimator.predict_proba(np.array([[0.5, 0.5], [9.0, 9.0]]))
    order = [list(estimator.classes_).index(c) for c in classes]
    assert probabilities["data"] == pytest.approx(expected[:, order].ravel().tolist())
    assert output(body, "predict") == {"name": "predict", "shape": [2], "datatype": "BYTES",
                                       "data": estimator.predict([[0.5, 0.5], [9.0, 9.0]]).tolist()}  # fmt: skip


def test_the_v2_routes_are_in_the_openapi_document(api) -> None:  # type: ignore[no-untyped-def]
    paths = api.client.get("/openapi.json").json()["paths"]
    for path in (
        "/v2",
        "/v2/health/live",
        "/v2/health/ready",
        "/v2/models/{name}",
        "/v2/models/{name}/versions/{version}",
        "/v2/models/{name}/ready",
        "/v2/models/{name}/versions/{version}/ready",
        "/v2/models/{name}/infer",
        "/v2/models/{name}/versions/{version}/infer",
    ):
        assert path in paths, path
    infer_op = paths["/v2/models/{name}/infer"]["post"]
    schema = infer_op["requestBody"]["content"]["application/json"]["schema"]
    assert schema["required"] == ["inputs"]
    assert "BYTES" in schema["properties"]["inputs"]["items"]["properties"]["datatype"]["enum"]
    error = infer_op["responses"]["400"]["content"]["application/json"]["schema"]
    assert error == {"$ref": "#/components/schemas/OipError"}
