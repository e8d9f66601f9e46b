"""Attributions add up to the model's output, and match exact Shapley values."""

from __future__ import annotations

import lightgbm
import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import PolynomialFeatures, StandardScaler

from ailayer.core.errors import InvalidInput
from ailayer.models.flavors.lightgbm import LightGBMFlavor
from ailayer.models.flavors.onnx import OnnxFlavor
from ailayer.monitoring.explain import explain, global_importance, permutation_shap
from ailayer.simulate import fraud_training_frame, simulate


@pytest.fixture(scope="module")
def fraud():
    return fraud_training_frame(simulate(seed=2, n_payments=4_000, fraud_rate=0.1))


def test_treeshap_of_a_lightgbm_booster_adds_up_to_the_raw_score(fraud) -> None:
    features, is_fraud = fraud
    data = lightgbm.Dataset(features.to_numpy(), is_fraud.to_numpy(), feature_name=list(features))
    booster = lightgbm.train({"objective": "binary", "verbose": -1, "num_leaves": 15}, data, 30)
    loaded = LightGBMFlavor().load(booster.model_to_string().encode())  # as served
    explanation = explain(loaded, features.iloc[:200])
    raw = booster.predict(features.iloc[:200].to_numpy(), raw_score=True)
    assert explanation.method == "tree" and explanation.output == "raw"
    np.testing.assert_allclose(explanation.outputs, raw, atol=1e-9)
    assert explanation.feature_names == tuple(features.columns)


def test_linear_shap_of_a_scaled_logistic_regression_is_exact(fraud) -> None:
    features, is_fraud = fraud
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1_000)).fit(
        features, is_fraud
    )
    explanation = explain(model, features.iloc[:100], background=features)
    assert explanation.method == "linear" and explanation.output == "raw"
    np.testing.assert_allclose(
        explanation.outputs, model.decision_function(features.iloc[:100]), atol=1e-9
    )
    scaler, logistic = model.steps[0][1], model.steps[1][1]
    coef = logistic.coef_[0] / scaler.scale_
    expected = (features.iloc[:100].to_numpy() - features.to_numpy().mean(axis=0)) * coef
    np.testing.assert_allclose(explanation.values, expected, atol=1e-9)


def test_permutation_estimate_is_additive_and_exact_for_additive_models() -> None:
    rng = np.random.default_rng(0)
    rows, background = rng.normal(size=(20, 4)), rng.normal(size=(30, 4))

    def predict(x: np.ndarray) -> np.ndarray:
        return 2 * x[:, 0] - x[:, 1] + np.sin(x[:, 2]) + 0.5 * x[:, 3] ** 2

    explanation = permutation_shap(predict, rows, background, ["a", "b", "c", "d"])
    np.testing.assert_allclose(explanation.outputs, predict(rows), atol=1e-12)
    shifted = background.mean(axis=0)
    assert explanation.values[:, 0] == pytest.approx(2 * (rows[:, 0] - shifted[0]))
    expected_d = 0.5 * rows[:, 3] ** 2 - np.mean(0.5 * background[:, 3] ** 2)
    assert explanation.values[:, 3] == pytest.approx(expected_d)


def test_permutation_estimate_is_close_to_exact_shapley_with_interactions() -> None:
    rng = np.random.default_rng(1)
    rows, background = rng.normal(size=(5, 3)), rng.normal(size=(10, 3))

    def predict(x: np.ndarray) -> np.ndarray:
        return x[:, 0] * x[:, 1] + x[:, 2]

    estimate = permutation_shap(predict, rows, background, "abc", n_permutations=200, seed=3)
    exact = permutation_shap(predict, rows, background, "abc", n_permutations=1, seed=0)
    # With 3 features, the 6 orders (3 forward + reversed) enumerate every permutation.
    orders = permutation_shap(predict, rows, background, "abc", n_permutations=3, seed=9)
    np.testing.assert_allclose(estimate.outputs, exact.outputs, atol=1e-12)
    np.testing.assert_allclose(estimate.values, orders.values, atol=0.15)


def test_other_models_fall_back_to_permutation_on_the_probability(fraud) -> None:
    features, is_fraud = fraud
    forest = RandomForestClassifier(n_estimators=10, random_state=0).fit(features, is_fraud)
    rows = features.iloc[:4]
    explanation = explain(forest, rows, background=features.iloc[:40], n_permutations=4)
    assert explanation.method == "permutation" and explanation.output == "probability"
    np.testing.assert_allclose(explanation.outputs, forest.predict_proba(rows)[:, 1], atol=1e-12)
    assert explanation.expected_value == pytest.approx(
        forest.predict_proba(features.iloc[:40])[:, 1].mean()
    )


def test_an_onnx_classifier_is_explained_on_its_probability_score(fraud) -> None:
    """A served model without predict_proba whose Predictions carry scores: the
    attributions add up to that probability, and say so."""
    from skl2onnx import to_onnx

    features, is_fraud = fraud
    x = features.to_numpy(dtype=np.float32)
    forest = RandomForestClassifier(n_estimators=5, max_depth=4, random_state=0).fit(x, is_fraud)
    artifact = to_onnx(forest, x[:1], target_opset=17).SerializeToString()
    served = OnnxFlavor().load(artifact)
    explanation = explain(served, x[:3], background=x[:20], n_permutations=2)
    assert explanation.method == "permutation" and explanation.output == "probability"
    np.testing.assert_allclose(explanation.outputs, served.predict(x[:3]).scores, atol=1e-6)


def test_a_pipeline_that_is_not_affine_is_not_explained_as_linear() -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=(200, 2))
    model = make_pipeline(PolynomialFeatures(2), LinearRegression()).fit(x, x[:, 0] * x[:, 1])
    explanation = explain(model, x[:5], background=x)
    assert explanation.method == "permutation" and explanation.output == "raw"
    np.testing.assert_allclose(explanation.outputs, model.predict(x[:5]), atol=1e-9)


def test_global_importance_is_mean_absolute_attribution_largest_first() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(300, 3))
    model = LinearRegression().fit(x, 3 * x[:, 2] + x[:, 0])
    explanation = explain(model, x, background=x, feature_names=["a", "b", "c"])
    importance = global_importance(explanation)
    assert list(importance) == ["c", "a", "b"]
    assert importance["c"] == pytest.approx(np.abs(3 * (x[:, 2] - x[:, 2].mean())).mean())
    assert explanation.records()[0].keys() == {"a", "b", "c"}


def test_models_without_a_background_or_with_bad_rows_get_clear_errors() -> None:
    model = LinearRegression().fit([[0.0], [1.0]], [0.0, 1.0])
    with pytest.raises(InvalidInput, match="background"):
        explain(model, [[1.0]])
    with pytest.raises(InvalidInput, match="rows"):
        explain(model, [["x"]], background=[[0.0]])
