"""Quantized variants: a network's int8 form registered as a new version with its deltas
measured against the form serving now; models with nothing to quantize are refused."""

from __future__ import annotations

import numpy as np
import pytest

from tests.support.api import Api, make_api
from tests.support.services import FEATURES, SIGNATURE, TinyModel, tiny_sklearn_model


def network(seed: int = 0) -> tuple[TinyModel, np.ndarray, np.ndarray]:
    """An MLP (its ONNX form is MatMul/Add/Relu: int8 weights apply), and a holdout."""
    import skops.io as sio
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(seed)
    x = np.column_stack([rng.uniform(0, 1000, 3000), rng.uniform(0, 365, 3000)])
    y = (x[:, 0] > 600) & (x[:, 1] < 100)
    mlp = MLPClassifier(hidden_layer_sizes=(64, 64), max_iter=400, random_state=seed)
    estimator = make_pipeline(StandardScaler(), mlp).fit(x[:2000], y[:2000])
    return TinyModel(sio.dumps(estimator), SIGNATURE, estimator), x[2000:], y[2000:]


@pytest.fixture
def api(services) -> Api:  # type: ignore[no-untyped-def]
    return make_api(services)


def test_a_network_is_registered_quantized_with_its_deltas(api: Api) -> None:
    model, x, y = network()
    assert api.register("mlp", model).status_code == 201
    holdout = [
        dict(zip(FEATURES, map(float, row), strict=True)) | {"fraud": bool(t)}
        for row, t in zip(x, y, strict=True)
    ]

    answer = api.client.post(
        "/v1/models/mlp/versions/1/quantize",
        headers=api.headers("developer"),
        json={"holdout": holdout, "label": "fraud"},
    )

    assert answer.status_code == 200, answer.text
    body = answer.json()
    new, deltas = body["version"], body["deltas"]
    assert (new["version"], new["flavor"]) == (2, "onnx")
    assert new["tags"]["quantized_from"] == "1" and "float32" in body["source"]
    assert deltas["size_ratio"] < 0.6  # int8 weights: about a quarter of float32 ones
    assert deltas["quantized_bytes"] < deltas["float32_bytes"]
    assert 0.9 <= deltas["agreement"] <= 1.0
    for name in ("original_p99_ms", "quantized_p99_ms", "p99_ratio", "batch_ratio"):
        assert deltas[name] > 0
    # the accuracies are the two models' own on the holdout
    expected = np.mean(model.estimator.predict(x) == y)  # type: ignore[attr-defined]
    assert deltas["original_accuracy"] == pytest.approx(expected, abs=0.01)
    # the new version serves like any other, and answers as measured
    alias = {"version": 2}
    assert api.client.put(
        "/v1/models/mlp/aliases/int8", headers=api.headers(), json=alias
    ).is_success
    endpoint = {"model": "mlp", "alias": "int8"}
    assert api.client.put("/v1/endpoints/mlp-q", headers=api.headers(), json=endpoint).is_success
    records = [{k: v for k, v in r.items() if k != "fraud"} for r in holdout]
    served = api.client.post("/v1/predict/mlp-q", headers=api.headers(), json={"records": records})
    assert served.status_code == 200, served.text
    values = [item["prediction"] for item in served.json()["predictions"]]
    assert deltas["quantized_accuracy"] == pytest.approx(np.mean(np.array(values) == y), abs=1e-9)
    assert deltas["accuracy_delta"] == pytest.approx(
        deltas["quantized_accuracy"] - deltas["original_accuracy"]
    )
    assert new["metrics"]["quantization_size_ratio"] == pytest.approx(deltas["size_ratio"])


def test_a_model_with_no_weights_to_quantize_is_refused_with_the_reason(api: Api) -> None:
    assert api.register("linear", tiny_sklearn_model()).status_code == 201
    answer = api.client.post(
        "/v1/models/linear/versions/1/quantize", headers=api.headers(), json={}
    )
    assert answer.status_code == 422
    error = answer.json()["error"]
    assert error["field"] == "flavor" and "nothing to quantize" in error["message"]
    assert "LinearClassifier" in error["message"]
    listed = api.client.get("/v1/models/linear", headers=api.headers()).json()
    assert listed["latest_version"] == 1  # nothing registered


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"holdout": [{"amount": 1.0, "card_age_days": 2.0}], "label": "fraud"}, "holdout[0]"),
        ({"label": "fraud"}, "holdout"),
        ({"holdout": [], "label": "fraud"}, "holdout"),
        ({"holdout": [{"amount": 1.0, "card_age_days": 2.0, "fraud": True}]}, "label"),
        (
            {"holdout": [{"amount": "x", "card_age_days": 2.0, "fraud": True}], "label": "fraud"},
            "amount",
        ),
    ],
)
def test_a_bad_holdout_is_refused_naming_the_field(api: Api, body: dict, field: str) -> None:
    model, _, _ = network()
    assert api.register("mlp", model).status_code == 201
    answer = api.client.post("/v1/models/mlp/versions/1/quantize", headers=api.headers(), json=body)
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["field"] == field


def test_a_viewer_cannot_quantize(api: Api) -> None:
    answer = api.client.post(
        "/v1/models/mlp/versions/1/quantize", headers=api.headers("viewer"), json={}
    )
    assert answer.status_code == 403
