"""Model flavors: safe formats load and predict like the original; unsafe ones are refused."""

from __future__ import annotations

import builtins
import io
import os
import pickle
import zipfile

import numpy as np
import pytest
import skops.io as sio
from sklearn.ensemble import GradientBoostingClassifier, HistGradientBoostingClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from ailayer.core.errors import InvalidInput, UnsafeArtifact
from ailayer.models.flavors import get_flavor
from ailayer.models.flavors.base import Predictions

GARBAGE = [b"", b"not a model at all", bytes(range(256)) * 4, b"tree\nthis is not lightgbm"]
FLAVORS = ["sklearn", "lightgbm", "xgboost", "onnx", "pytorch", "provider"]


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Features, a binary target, a three-class target and a real-valued target."""
    rng = np.random.default_rng(7)
    x = rng.normal(size=(200, 4))
    binary = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(int)
    multi = np.digitize(x[:, 2], [-0.5, 0.5])
    real = x @ np.array([1.5, -2.0, 0.25, 3.0]) + 0.1 * rng.normal(size=200)
    return x, binary, multi, real


# --- scikit-learn via skops ------------------------------------------------------------


def _assert_matches_classifier(pred: Predictions, estimator, x: np.ndarray) -> None:  # type: ignore[no-untyped-def]
    proba = estimator.predict_proba(x)
    assert pred.values == estimator.predict(x).tolist()
    if proba.shape[1] == 2:
        np.testing.assert_allclose(pred.scores, proba[:, 1], rtol=1e-12)
        assert pred.probabilities is None
    else:
        np.testing.assert_allclose(pred.scores, proba.max(axis=1), rtol=1e-12)
        names = [str(c) for c in estimator.classes_]
        got = np.array([[row[name] for name in names] for row in pred.probabilities])
        np.testing.assert_allclose(got, proba, rtol=1e-12)


@pytest.fixture(scope="module")
def classifiers(data) -> dict:  # type: ignore[no-untyped-def]
    x, binary, multi, _ = data
    return {
        "logistic": LogisticRegression().fit(x, binary),
        "logistic-3-class": LogisticRegression().fit(x, multi),
        "pipeline": make_pipeline(StandardScaler(), LogisticRegression()).fit(x, binary),
        "gradient-boosting": GradientBoostingClassifier(n_estimators=10).fit(x, binary),
        "gradient-boosting-3-class": GradientBoostingClassifier(n_estimators=5).fit(x, multi),
    }


@pytest.mark.parametrize(
    "name",
    ["logistic", "logistic-3-class", "pipeline", "gradient-boosting", "gradient-boosting-3-class"],
)
def test_sklearn_classifier_round_trips_through_skops(data, classifiers, name: str) -> None:  # type: ignore[no-untyped-def]
    estimator = classifiers[name]
    artifact = sio.dumps(estimator)
    flavor = get_flavor("sklearn")

    flavor.check(artifact)
    pred = flavor.load(artifact).predict(data[0])

    _assert_matches_classifier(pred, estimator, data[0])


def test_hist_gradient_boosting_is_refused_naming_its_unverifiable_type(data) -> None:  # type: ignore[no-untyped-def]
    x, binary, _, _ = data
    artifact = sio.dumps(HistGradientBoostingClassifier(max_iter=3).fit(x, binary))

    with pytest.raises(UnsafeArtifact, match="TreePredictor") as excinfo:
        get_flavor("sklearn").check(artifact)
    assert excinfo.value.field == "artifact"


def test_sklearn_regressor_round_trips_through_skops(data) -> None:  # type: ignore[no-untyped-def]
    x, _, _, real = data
    estimator = make_pipeline(StandardScaler(), Ridge()).fit(x, real)
    artifact = sio.dumps(estimator)
    flavor = get_flavor("sklearn")

    flavor.check(artifact)
    pred = flavor.load(artifact).predict(x)

    np.testing.assert_allclose(pred.values, estimator.predict(x), rtol=1e-12)
    assert pred.scores is None
    assert all(type(v) is float for v in pred.values)


def test_plain_pickle_is_refused_by_every_flavor(data) -> None:  # type: ignore[no-untyped-def]
    artifact = pickle.dumps(LogisticRegression().fit(data[0], data[1]))

    for name in FLAVORS:
        with pytest.raises(UnsafeArtifact, match="pickle") as excinfo:
            get_flavor(name).check(artifact)
        assert excinfo.value.field == "artifact"


@pytest.mark.parametrize("compress", [0, 3, ("gzip", 3), ("bz2", 3), ("xz", 3), ("lzma", 3)])
def test_joblib_file_is_refused_as_pickle(data, compress) -> None:  # type: ignore[no-untyped-def]
    import joblib

    buffer = io.BytesIO()
    joblib.dump(LogisticRegression().fit(data[0], data[1]), buffer, compress=compress)

    with pytest.raises(UnsafeArtifact, match="pickle"):
        get_flavor("sklearn").check(buffer.getvalue())


@pytest.mark.parametrize("func", [builtins.eval, os.system], ids=["eval", "system"])
def test_skops_file_with_an_untrusted_type_is_refused(func) -> None:  # type: ignore[no-untyped-def]
    model = make_pipeline(FunctionTransformer(func), LogisticRegression())
    artifact = sio.dumps(model)
    flavor = get_flavor("sklearn")

    for action in (flavor.check, flavor.load):
        with pytest.raises(UnsafeArtifact) as excinfo:
            action(artifact)
        assert f"{func.__module__}.{func.__name__}" in str(excinfo.value)
        assert excinfo.value.field == "artifact"


@pytest.mark.parametrize("artifact", GARBAGE)
def test_sklearn_garbage_is_invalid_input(artifact: bytes) -> None:
    flavor = get_flavor("sklearn")

    for action in (flavor.check, flavor.load):
        with pytest.raises(InvalidInput) as excinfo:
            action(artifact)
        assert not isinstance(excinfo.value, UnsafeArtifact)
        assert excinfo.value.field == "artifact"


def test_sklearn_zip_that_is_not_skops_is_invalid_input() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("hello.txt", "not a model")

    with pytest.raises(InvalidInput, match="skops"):
        get_flavor("sklearn").check(buffer.getvalue())


def test_sklearn_object_without_predict_is_invalid_input(data) -> None:  # type: ignore[no-untyped-def]
    artifact = sio.dumps(StandardScaler().fit(data[0]))

    with pytest.raises(InvalidInput, match="predict"):
        get_flavor("sklearn").check(artifact)


# --- LightGBM ------------------------------------------------------------------------


def _booster(x: np.ndarray, y: np.ndarray, **params):  # type: ignore[no-untyped-def]
    import lightgbm

    params = {"verbose": -1, "num_leaves": 4, "min_data_in_leaf": 5, **params}
    return lightgbm.train(params, lightgbm.Dataset(x, y), num_boost_round=8)


def test_lightgbm_binary_booster_matches(data) -> None:  # type: ignore[no-untyped-def]
    x, binary, _, _ = data
    booster = _booster(x, binary, objective="binary")
    artifact = booster.model_to_string().encode()
    flavor = get_flavor("lightgbm")

    flavor.check(artifact)
    pred = flavor.load(artifact).predict(x)

    expected = booster.predict(x)
    np.testing.assert_allclose(pred.scores, expected, rtol=1e-12)
    assert pred.values == [int(p >= 0.5) for p in expected]
    assert set(pred.values) == {0, 1}


def test_lightgbm_multiclass_booster_matches(data) -> None:  # type: ignore[no-untyped-def]
    x, _, multi, _ = data
    booster = _booster(x, multi, objective="multiclass", num_class=3)
    artifact = booster.model_to_string().encode()

    pred = get_flavor("lightgbm").load(artifact).predict(x)

    expected = booster.predict(x)
    assert pred.values == expected.argmax(axis=1).tolist()
    np.testing.assert_allclose(pred.scores, expected.max(axis=1), rtol=1e-12)
    got = np.array([[row[str(i)] for i in range(3)] for row in pred.probabilities])
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_lightgbm_regression_booster_matches(data) -> None:  # type: ignore[no-untyped-def]
    x, _, _, real = data
    booster = _booster(x, real, objective="regression")
    artifact = booster.model_to_string().encode()
    flavor = get_flavor("lightgbm")

    flavor.check(artifact)
    pred = flavor.load(artifact).predict(x)

    np.testing.assert_allclose(pred.values, booster.predict(x), rtol=1e-12)
    assert pred.scores is None


@pytest.mark.parametrize("artifact", [*GARBAGE, b"\xff\xfe tree"])
def test_lightgbm_garbage_is_invalid_input(artifact: bytes) -> None:
    flavor = get_flavor("lightgbm")

    for action in (flavor.check, flavor.load):
        with pytest.raises(InvalidInput, match="LightGBM") as excinfo:
            action(artifact)
        assert excinfo.value.field == "artifact"


# --- ONNX ----------------------------------------------------------------------------


def _to_onnx(model, n_features: int, options=None) -> bytes:  # type: ignore[no-untyped-def]
    from skl2onnx import to_onnx

    sample = np.zeros((1, n_features), dtype=np.float32)
    return to_onnx(model, sample, options=options, target_opset=17).SerializeToString()


@pytest.mark.parametrize("zipmap", [True, False])
def test_onnx_logistic_regression_matches_sklearn(data, zipmap: bool) -> None:  # type: ignore[no-untyped-def]
    x, binary, _, _ = data
    model = LogisticRegression().fit(x, binary)
    options = None if zipmap else {id(model): {"zipmap": False}}
    artifact = _to_onnx(model, x.shape[1], options)
    flavor = get_flavor("onnx")

    flavor.check(artifact)
    pred = flavor.load(artifact).predict(x)

    assert pred.values == model.predict(x).tolist()
    np.testing.assert_allclose(pred.scores, model.predict_proba(x)[:, 1], atol=1e-5)


@pytest.mark.parametrize("zipmap", [True, False])
def test_onnx_multiclass_probabilities_use_the_class_labels(data, zipmap: bool) -> None:  # type: ignore[no-untyped-def]
    x, _, multi, _ = data
    labels = np.array([10, 20, 30])[multi]
    model = LogisticRegression().fit(x, labels)
    options = None if zipmap else {id(model): {"zipmap": False}}
    artifact = _to_onnx(model, x.shape[1], options)

    pred = get_flavor("onnx").load(artifact).predict(x)

    proba = model.predict_proba(x)
    assert pred.values == model.predict(x).tolist()
    np.testing.assert_allclose(pred.scores, proba.max(axis=1), atol=1e-5)
    got = np.array([[row[name] for name in ("10", "20", "30")] for row in pred.probabilities])
    np.testing.assert_allclose(got, proba, atol=1e-5)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("kind", ["logistic", "mlp"])
def test_onnx_probability_tensor_keeps_string_labels(data, kind: str) -> None:  # type: ignore[no-untyped-def]
    from sklearn.neural_network import MLPClassifier

    x, _, multi, _ = data
    labels = np.array(["low", "mid", "high"])[multi]
    if kind == "logistic":
        model = LogisticRegression().fit(x, labels)
    else:
        model = MLPClassifier(hidden_layer_sizes=(4,), max_iter=50, random_state=0).fit(x, labels)
    artifact = _to_onnx(model, x.shape[1], {id(model): {"zipmap": False}})

    pred = get_flavor("onnx").load(artifact).predict(x)

    proba = model.predict_proba(x)
    assert pred.values == model.predict(x).tolist()
    names = [str(c) for c in model.classes_]
    got = np.array([[row[name] for name in names] for row in pred.probabilities])
    np.testing.assert_allclose(got, proba, atol=1e-5)


def test_onnx_regressor_matches_sklearn(data) -> None:  # type: ignore[no-untyped-def]
    x, _, _, real = data
    model = LinearRegression().fit(x, real)
    artifact = _to_onnx(model, x.shape[1])
    flavor = get_flavor("onnx")

    flavor.check(artifact)
    pred = flavor.load(artifact).predict(x)

    np.testing.assert_allclose(pred.values, model.predict(x), rtol=1e-5, atol=1e-5)
    assert pred.scores is None


@pytest.mark.parametrize("artifact", GARBAGE)
def test_onnx_garbage_is_invalid_input(artifact: bytes) -> None:
    flavor = get_flavor("onnx")

    for action in (flavor.check, flavor.load):
        with pytest.raises(InvalidInput, match="ONNX") as excinfo:
            action(artifact)
        assert excinfo.value.field == "artifact"


# --- registry of flavors -------------------------------------------------------------


def test_unknown_flavor_names_the_field_and_the_known_ones() -> None:
    with pytest.raises(InvalidInput) as excinfo:
        get_flavor("catboost")

    assert excinfo.value.field == "flavor"
    message = str(excinfo.value)
    assert "catboost" in message
    for known in FLAVORS:
        assert known in message


@pytest.mark.parametrize("name", FLAVORS)
def test_known_flavors_carry_their_name(name: str) -> None:
    assert get_flavor(name).name == name
