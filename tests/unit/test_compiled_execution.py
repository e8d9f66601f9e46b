"""Compiled execution: a model kept as ONNX only when it equals the original within 1e-6,
served by default, switchable per version; otherwise the original serves, with a reason."""

from __future__ import annotations

import lightgbm
import numpy as np
import onnxruntime
import pytest
import skops.io as sio
import xgboost
from sklearn.ensemble import (
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    RandomForestClassifier,
)
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from ailayer.governance import audit
from ailayer.models.compile import TOLERANCE
from ailayer.models.compile.compiler import difference
from ailayer.models.flavors import Predictions, get_flavor
from ailayer.models.flavors.onnx import OnnxModel
from tests.support.services import TinyModel, upload_form

FEATURES = ("amount", "card_age_days", "txn_last_hour")
SIGNATURE = {"inputs": [{"name": n, "type": "double"} for n in FEATURES]}


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    x = np.column_stack(
        [rng.uniform(0, 1000, 600), rng.uniform(0, 365, 600), rng.integers(0, 10, 600)]
    )
    noise = rng.normal(size=600) * 0.5
    y = ((x[:, 0] / 300 - x[:, 1] / 120 + x[:, 2] / 5 + noise) > 0.5).astype(int)
    return x, y


def _sklearn(estimator, x, y) -> tuple[str, bytes]:  # type: ignore[no-untyped-def]
    return "sklearn", sio.dumps(estimator.fit(x, y))


KINDS = {
    "scaler+logistic": lambda x, y: _sklearn(
        make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)), x, y
    ),
    "random-forest": lambda x, y: _sklearn(
        RandomForestClassifier(n_estimators=20, max_depth=6, random_state=0), x, y
    ),
    "gradient-boosting": lambda x, y: _sklearn(
        GradientBoostingClassifier(n_estimators=30, random_state=0), x, y
    ),
    "lightgbm": lambda x, y: (
        "lightgbm",
        lightgbm.train(
            {"objective": "binary", "num_leaves": 8, "verbose": -1}, lightgbm.Dataset(x, y), 30
        )
        .model_to_string()
        .encode(),
    ),
    "xgboost": lambda x, y: (
        "xgboost",
        bytes(
            xgboost.train(
                {"objective": "binary:logistic", "max_depth": 3, "nthread": 1},
                xgboost.DMatrix(x, label=y),
                30,
            ).save_raw("json")
        ),
    ),
}


def register(api, flavor: str, artifact: bytes, model: str = "fraud") -> dict:  # type: ignore[no-untyped-def]
    tiny = TinyModel(artifact, SIGNATURE, None)
    response = api.client.post(
        f"/v1/models/{model}/versions",
        headers=api.headers(),
        **upload_form(tiny, flavor=flavor, aliases=["champion"]),
    )
    assert response.status_code == 201, response.text
    return response.json()


def predict(api, rows: np.ndarray, model: str = "fraud") -> list[dict]:  # type: ignore[no-untyped-def]
    records = [dict(zip(FEATURES, map(float, row), strict=True)) for row in rows]
    response = api.client.post(f"/v1/predict/{model}", headers=api.headers("service"), json=records)
    assert response.status_code == 200, response.text
    return response.json()["predictions"]


def served(api, model: str = "fraud", number: int = 1):  # type: ignore[no-untyped-def]
    version = api.services.registry.get_version(api.tenant_id, model, number)
    return api.services.predictor.models.get(api.tenant_id, version.cache_key)


def set_serving(api, compiled, model: str = "fraud", number: int = 1):  # type: ignore[no-untyped-def]
    return api.client.post(
        f"/v1/models/{model}/versions/{number}/serving",
        headers=api.headers(),
        json={"compiled": compiled},
    )


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_supported_model_compiles_and_the_onnx_session_serves_it(api, data, kind) -> None:  # type: ignore[no-untyped-def]
    x, y = data
    flavor, artifact = KINDS[kind](x, y)
    version = register(api, flavor, artifact)
    compilation = version["compilation"]
    assert compilation["compiled"] is True, compilation["reason"]
    assert compilation["runtime"].startswith("onnxruntime")
    assert 0 <= compilation["max_abs_diff"] <= TOLERANCE
    assert compilation["sample_rows"] > 0 and compilation["reason"] is None
    assert compilation["artifact_sha256"] != version["artifact_sha256"]
    assert "artifact_uri" not in compilation  # never where the server stores it
    assert version["serve_compiled"] is True and version["serves_compiled"] is True

    rows = x[:40]
    answers = predict(api, rows)
    loaded = served(api)
    assert isinstance(loaded, OnnxModel)
    assert isinstance(loaded.session, onnxruntime.InferenceSession)
    original = get_flavor(flavor).load(artifact).predict(rows)
    assert [a["prediction"] for a in answers] == original.values
    np.testing.assert_allclose([a["score"] for a in answers], original.scores, rtol=0, atol=1e-6)


def test_a_model_outside_the_tolerance_serves_the_original_and_says_why(api, data) -> None:  # type: ignore[no-untyped-def]
    """Tree regressors convert in float32 only: leaf sums drift past 1e-6, so the
    compiled form is refused even though it is close."""
    x, _ = data
    target = x @ np.array([3.0, -2.0, 40.0])
    estimator = GradientBoostingRegressor(n_estimators=50, random_state=0).fit(x, target)
    version = register(api, "sklearn", sio.dumps(estimator))
    compilation = version["compilation"]
    assert compilation["compiled"] is False
    assert "max abs difference" in compilation["reason"]
    assert compilation["max_abs_diff"] > TOLERANCE
    assert version["serves_compiled"] is False

    answers = predict(api, x[:5])
    assert not isinstance(served(api), OnnxModel)
    assert served(api).estimator is not None
    np.testing.assert_allclose([a["prediction"] for a in answers], estimator.predict(x[:5]))

    refused = set_serving(api, True)
    assert refused.status_code == 409
    assert refused.json()["error"]["field"] == "compiled"
    assert "max abs difference" in refused.json()["error"]["message"]


def test_string_inputs_are_not_compiled_and_registration_still_succeeds(api) -> None:  # type: ignore[no-untyped-def]
    from tests.support.services import tiny_sklearn_model

    tiny = tiny_sklearn_model()
    signature = {"inputs": [{"name": "amount", "type": "double"}, {"name": "c", "type": "string"}]}
    response = api.client.post(
        "/v1/models/strings/versions",
        headers=api.headers(),
        **upload_form(TinyModel(tiny.artifact, signature, None)),
    )
    assert response.status_code == 201, response.text
    compilation = response.json()["compilation"]
    assert compilation["compiled"] is False and "'c' is a string" in compilation["reason"]


def test_the_switch_serves_the_original_then_the_compiled_form_again(api, data) -> None:  # type: ignore[no-untyped-def]
    x, y = data
    flavor, artifact = KINDS["scaler+logistic"](x, y)
    register(api, flavor, artifact)
    predict(api, x[:3])
    assert isinstance(served(api), OnnxModel)

    switched = set_serving(api, False)
    assert switched.status_code == 200, switched.text
    assert switched.json()["serve_compiled"] is False
    assert switched.json()["serves_compiled"] is False
    answers = predict(api, x[:3])
    original = served(api)
    assert original is not None and not isinstance(original, OnnxModel)
    expected = original.estimator.predict_proba(x[:3])[:, 1]
    np.testing.assert_allclose([a["score"] for a in answers], expected, rtol=0, atol=0)

    assert set_serving(api, True).json()["serves_compiled"] is True
    predict(api, x[:3])
    assert isinstance(served(api), OnnxModel)

    with api.services.db.read() as conn:
        changes = [
            e
            for e in audit.entries(conn, api.tenant_id, "model/fraud")
            if e["action"] == "version.serving"
        ]
    assert [c["detail"]["compiled"] for c in changes] == [True, False]  # newest first


@pytest.mark.parametrize(
    "body", [{"compiled": "no"}, {"compiled": 1}, {}, {"compiled": True, "x": 1}]
)
def test_a_bad_switch_is_a_422(api, data, body) -> None:  # type: ignore[no-untyped-def]
    x, y = data
    register(api, *KINDS["scaler+logistic"](x, y))
    response = api.client.post(
        "/v1/models/fraud/versions/1/serving", headers=api.headers(), json=body
    )
    assert response.status_code == 422, response.text


def test_the_switch_needs_write_permission_and_a_version(api, data) -> None:  # type: ignore[no-untyped-def]
    x, y = data
    register(api, *KINDS["scaler+logistic"](x, y))
    viewer = api.client.post(
        "/v1/models/fraud/versions/1/serving",
        headers=api.headers("viewer"),
        json={"compiled": False},
    )
    assert viewer.status_code == 403
    assert set_serving(api, False, number=9).status_code == 404


def test_difference_names_labels_that_differ() -> None:
    same = Predictions([0, 1], [0.1, 0.9])
    assert difference(same, Predictions([0, 1], [0.1, 0.9 + 5e-7])) == pytest.approx((5e-7, None))
    _, mismatch = difference(same, Predictions(["a", "b"], [0.1, 0.9]))
    assert mismatch is not None and "values differ at sample row 0" in mismatch
    assert difference(same, Predictions([0, 1]))[1] == "one gives scores, the other does not"
    assert difference(same, Predictions([0, 0], [0.1, 0.9]))[0] == 1.0
    assert "True against 1" in difference(Predictions([True]), Predictions([1]))[1]


def test_registration_can_skip_compiling(api, data) -> None:  # type: ignore[no-untyped-def]
    x, y = data
    _, artifact = KINDS["scaler+logistic"](x, y)
    response = api.client.post(
        "/v1/models/fraud/versions",
        headers=api.headers(),
        **upload_form(TinyModel(artifact, SIGNATURE, None), compile=False),
    )
    assert response.status_code == 201, response.text
    assert response.json()["compilation"]["reason"] == "registered with compile: false"
    assert set_serving(api, True).status_code == 409


def test_boolean_labels_that_the_converter_turns_into_integers_are_not_compiled(api) -> None:  # type: ignore[no-untyped-def]
    """The answer would say 1 where the original says true: not equal, so not kept."""
    from tests.support.services import tiny_sklearn_model

    version = api.register("fraud", tiny_sklearn_model(), aliases=["champion"]).json()
    assert version["compilation"]["compiled"] is False
    assert "True against 1" in version["compilation"]["reason"] or (
        "False against 0" in version["compilation"]["reason"]
    )
    [answer] = predict_tiny(api)
    assert answer["prediction"] in (True, False)


def predict_tiny(api) -> list[dict]:  # type: ignore[no-untyped-def]
    record = {"amount": 900.0, "card_age_days": 10.0}
    response = api.client.post("/v1/predict/fraud", headers=api.headers("service"), json=[record])
    assert response.status_code == 200, response.text
    return response.json()["predictions"]


def test_a_compiled_version_still_explains_its_answers(api, data) -> None:  # type: ignore[no-untyped-def]
    x, y = data
    register(api, *KINDS["scaler+logistic"](x, y))
    record = dict(zip(FEATURES, map(float, x[0]), strict=True))
    response = api.client.post(
        "/v1/predict/fraud?explain=true", headers=api.headers("service"), json=[record]
    )
    assert response.status_code == 200, response.text
    assert isinstance(served(api), OnnxModel)
    [item] = response.json()["predictions"]
    assert set(item["explanation"]["attributions"]) == set(FEATURES)
