"""The XGBoost flavor: JSON and UBJSON models serve like the booster; hostile files are 422s."""

from __future__ import annotations

import json
import pickle
import struct

import numpy as np
import pytest
import xgboost as xgb

from ailayer.core.errors import InvalidInput, UnsafeArtifact
from ailayer.models.flavors import get_flavor
from ailayer.models.flavors.base import PICKLE_HINT
from tests.support.services import TinyModel, upload_form

FORMATS = ("json", "ubj")
SIGNATURE = {"inputs": [{"name": f"x{i}", "type": "double"} for i in range(4)]}


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, dict[str, np.ndarray]]:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(300, 4))
    targets = {
        "binary:logistic": (x[:, 0] + x[:, 1] > 0).astype(int),
        "multi:softprob": np.digitize(x[:, 2], [-0.5, 0.5]),
        "multi:softmax": np.digitize(x[:, 3], [-0.5, 0.5]),
        "reg:squarederror": x @ np.array([1.0, -2.0, 0.5, 3.0]),
    }
    return x, targets


def train(data, objective: str, rounds: int = 5, **params) -> xgb.Booster:  # type: ignore[no-untyped-def]
    x, targets = data
    params = {"objective": objective, "max_depth": 3, "nthread": 1, **params}
    if objective.startswith("multi:"):
        params["num_class"] = 3
    return xgb.train(params, xgb.DMatrix(x, label=targets[objective]), rounds)


@pytest.fixture(scope="module")
def boosters(data) -> dict[str, xgb.Booster]:  # type: ignore[no-untyped-def]
    return {objective: train(data, objective) for objective in data[1]}


def softprob(booster: xgb.Booster, x: np.ndarray) -> np.ndarray:
    margin = booster.predict(xgb.DMatrix(x), output_margin=True)
    exp = np.exp(margin - margin.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("fmt", FORMATS)
def test_binary_classifier_scores_are_the_boosters_probabilities(data, boosters, fmt) -> None:  # type: ignore[no-untyped-def]
    booster = boosters["binary:logistic"]
    model = get_flavor("xgboost").load(bytes(booster.save_raw(fmt)))
    pred = model.predict(data[0])
    expected = booster.predict(xgb.DMatrix(data[0]))
    np.testing.assert_allclose(pred.scores, expected, rtol=1e-5)
    assert pred.values == (expected >= 0.5).astype(int).tolist()
    assert pred.probabilities is None


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("objective", ["multi:softprob", "multi:softmax"])
def test_multiclass_gives_class_probabilities(data, boosters, fmt, objective) -> None:  # type: ignore[no-untyped-def]
    booster = boosters[objective]
    pred = get_flavor("xgboost").load(bytes(booster.save_raw(fmt))).predict(data[0])
    proba = softprob(booster, data[0])
    if objective == "multi:softprob":
        np.testing.assert_allclose(proba, booster.predict(xgb.DMatrix(data[0])), rtol=1e-5)
    else:  # softmax predicts the class itself
        assert booster.predict(xgb.DMatrix(data[0])).astype(int).tolist() == pred.values
    assert pred.values == proba.argmax(axis=1).tolist()
    got = np.array([[row[str(k)] for k in range(3)] for row in pred.probabilities])
    np.testing.assert_allclose(got, proba, rtol=1e-5)
    np.testing.assert_allclose(pred.scores, proba.max(axis=1), rtol=1e-5)


@pytest.mark.parametrize("fmt", FORMATS)
def test_regressor_values_are_the_boosters_predictions(data, boosters, fmt) -> None:  # type: ignore[no-untyped-def]
    booster = boosters["reg:squarederror"]
    pred = get_flavor("xgboost").load(bytes(booster.save_raw(fmt))).predict(data[0])
    np.testing.assert_allclose(pred.values, booster.predict(xgb.DMatrix(data[0])), rtol=1e-5)
    assert pred.scores is None


@pytest.mark.parametrize("objective", ["binary:logistic", "multi:softprob", "reg:squarederror"])
def test_registered_xgboost_model_serves_through_the_app(api, data, boosters, objective) -> None:  # type: ignore[no-untyped-def]
    booster = boosters[objective]
    tiny = TinyModel(bytes(booster.save_raw("ubj")), SIGNATURE, booster)
    registered = api.client.post(
        "/v1/models/boost/versions",
        headers=api.headers(),
        **upload_form(tiny, flavor="xgboost", aliases=["champion"]),
    )
    assert registered.status_code == 201, registered.text
    rows = data[0][:3]
    records = [{f"x{i}": float(v) for i, v in enumerate(row)} for row in rows]
    response = api.client.post("/v1/predict/boost", headers=api.headers("service"), json=records)
    assert response.status_code == 200, response.text
    items = response.json()["predictions"]
    expected = booster.predict(xgb.DMatrix(rows))
    if objective == "binary:logistic":
        np.testing.assert_allclose([i["score"] for i in items], expected, rtol=1e-5)
    elif objective == "multi:softprob":
        assert [i["prediction"] for i in items] == expected.argmax(axis=1).tolist()
        np.testing.assert_allclose([i["score"] for i in items], expected.max(axis=1), rtol=1e-5)
    else:
        np.testing.assert_allclose([i["prediction"] for i in items], expected, rtol=1e-5)


# --- hostile and broken files ----------------------------------------------------------


def register_bytes(api, artifact: bytes):  # type: ignore[no-untyped-def]
    tiny = TinyModel(artifact, SIGNATURE, None)
    return api.client.post(
        "/v1/models/boost/versions", headers=api.headers(), **upload_form(tiny, flavor="xgboost")
    )


def test_pickled_booster_is_refused_with_the_hint(api, boosters) -> None:  # type: ignore[no-untyped-def]
    response = register_bytes(api, pickle.dumps(boosters["binary:logistic"]))
    assert response.status_code == 422
    error = response.json()["error"]
    assert (error["code"], error["field"]) == ("unsafe_artifact", "artifact")
    assert error["message"] == PICKLE_HINT
    assert api.client.get("/v1/models/boost", headers=api.headers()).status_code == 404


@pytest.mark.parametrize("fmt", FORMATS)
def test_truncated_file_is_refused_naming_the_artifact(api, boosters, fmt) -> None:  # type: ignore[no-untyped-def]
    raw = bytes(boosters["binary:logistic"].save_raw(fmt))
    response = register_bytes(api, raw[: len(raw) // 2])
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["field"] == "artifact"
    assert "XGBoost" in error["message"]


def ubj_key(name: bytes) -> bytes:
    return b"L" + struct.pack(">q", len(name)) + name


NOT_MODELS = {
    "json-object": b'{"hello": "world"}',
    "json-array": b"[1, 2, 3]",
    "empty": b"",
    "text": b"tree\nnot xgboost",
    "deep-json": b'{"a":' * 200_000 + b"1" + b"}" * 200_000,
    "deep-json-shallow-enough-for-python": b'{"a":' * 500 + b"1" + b"}" * 500,
    "deep-ubjson": b"{" + ubj_key(b"a") + b"[" * 200_000 + b"]" * 200_000 + b"}",
    "ubjson-huge-count": b"{" + b"L" + struct.pack(">q", 2**62) + b"a",
}


@pytest.mark.parametrize("name", sorted(NOT_MODELS))
def test_bytes_that_are_not_a_model_are_refused_without_reaching_xgboost(name: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        get_flavor("xgboost").check(NOT_MODELS[name])
    assert caught.value.field == "artifact"
    assert "XGBoost" in caught.value.message


def edited(booster: xgb.Booster, edit) -> bytes:  # type: ignore[no-untyped-def]
    document = json.loads(booster.save_raw("json"))
    edit(document["learner"])
    return json.dumps(document).encode()


def first_tree(learner: dict) -> dict:
    return learner["gradient_booster"]["model"]["trees"][0]


def test_a_tree_that_points_back_at_its_root_is_unsafe(boosters) -> None:  # type: ignore[no-untyped-def]
    def loop(learner: dict) -> None:
        first_tree(learner)["left_children"][0] = 0

    with pytest.raises(UnsafeArtifact, match=r"trees\[0\].*node 0 has a child"):
        get_flavor("xgboost").check(edited(boosters["binary:logistic"], loop))


def test_a_split_on_a_feature_past_the_inputs_is_unsafe(boosters) -> None:  # type: ignore[no-untyped-def]
    def far(learner: dict) -> None:
        first_tree(learner)["split_indices"][0] = 10**6

    with pytest.raises(UnsafeArtifact, match="splits on feature 1000000 of 4"):
        get_flavor("xgboost").check(edited(boosters["binary:logistic"], far))


def test_unserved_objectives_and_boosters_are_refused(data) -> None:  # type: ignore[no-untyped-def]
    x, targets = data
    ranker = xgb.train(
        {"objective": "rank:pairwise", "nthread": 1},
        xgb.DMatrix(x, label=targets["binary:logistic"], group=[300]),
        2,
    )
    with pytest.raises(InvalidInput, match="rank:pairwise"):
        get_flavor("xgboost").check(bytes(ranker.save_raw("json")))
    linear = xgb.train(
        {"objective": "reg:squarederror", "booster": "gblinear", "nthread": 1},
        xgb.DMatrix(x, label=targets["reg:squarederror"]),
        2,
    )
    with pytest.raises(InvalidInput, match="gblinear"):
        get_flavor("xgboost").check(bytes(linear.save_raw("ubj")))
