"""Per-prediction feature attributions (Shapley values) and global importance.

``explain(model, rows)`` picks the exact method the model allows and falls back to an
estimate otherwise; every method is additive: ``expected_value + values.sum(axis=1)``
equals the explained output of each row. ``Explanation.output`` names that output's
space: ``raw`` (the model's untransformed output: log-odds of a classifier, the value of
a regressor) or ``probability`` (the positive-class probability).

- LightGBM boosters: TreeSHAP, LightGBM's own ``predict(pred_contrib=True)``; the output
  is the raw score (log-odds for binary models).
- scikit-learn models that are affine in their inputs (linear models, alone or after
  scalers in a pipeline): exact linear SHAP ``coef · (x - mean(background))`` on the
  decision function (log-odds for logistic regression), else ``predict``: ``raw``.
  Affinity is checked, not assumed.
- anything else: permutation sampling of Shapley values against a background set
  (seeded; each permutation is also walked backwards), on the positive-class
  probability (``probability``) when the model gives one, else the prediction (``raw``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ailayer.core.errors import InvalidInput

MAX_BACKGROUND = 100
DEFAULT_PERMUTATIONS = 10
AFFINE_TOLERANCE = 1e-8
RAW, PROBABILITY = "raw", "probability"  # the output spaces an explanation adds up to


@dataclass(frozen=True, eq=False)
class Explanation:
    """Attributions ``values`` (rows x features) around ``expected_value``."""

    values: np.ndarray
    expected_value: float
    feature_names: tuple[str, ...]
    method: str
    output: str

    @property
    def outputs(self) -> np.ndarray:
        """The explained output of each row: expected value plus its attributions."""
        return self.expected_value + self.values.sum(axis=1)

    def records(self) -> list[dict[str, float]]:
        """One ``{feature: attribution}`` per row, for ``?explain=true`` responses."""
        return [dict(zip(self.feature_names, row.tolist(), strict=True)) for row in self.values]

    def importance(self) -> dict[str, float]:
        """Global importance: mean |attribution| per feature, largest first."""
        return global_importance(self)


def global_importance(explanation: Explanation) -> dict[str, float]:
    """Mean absolute attribution of each feature over the explained rows, largest first."""
    means = np.abs(explanation.values).mean(axis=0)
    order = np.argsort(-means, kind="stable")
    return {explanation.feature_names[i]: float(means[i]) for i in order}


def explain(
    model: Any,
    rows: Any,
    *,
    background: Any = None,
    feature_names: Sequence[str] | None = None,
    n_permutations: int = DEFAULT_PERMUTATIONS,
    seed: int = 0,
) -> Explanation:
    """Attributions for ``rows`` by the best method ``model`` allows (see module docs).

    ``model`` is a LightGBM booster, a scikit-learn estimator, ailayer's loaded model
    (flavor wrapper) or any callable from a 2-D array to one output per row.
    """
    model = _unwrapped(model)
    names = _names(model, rows, feature_names)
    matrix = _matrix(rows, "rows")
    if _is_lightgbm(model):
        return _tree(getattr(model, "booster_", model), matrix, names)
    if background is None:
        raise InvalidInput(
            "explaining this model needs a background set (e.g. training rows)",
            field="background",
        )
    reference = _matrix(background, "background")
    linear = _linear(model, matrix, reference, names)
    if linear is not None:
        return linear
    sample = _subsample(reference, seed)
    predict, output = _output_function(model, sample[:1])
    return permutation_shap(predict, matrix, sample, names, n_permutations, seed, output=output)


def attributions(
    model: Any, rows: np.ndarray, background: np.ndarray, names: tuple[str, ...]
) -> dict[str, Any]:
    """``explain`` as ``?explain=true`` answers it, JSON-ready (and so ready for the wire
    to a gateway): ``{expected_value, method, output, attributions}``, one
    ``{input: attribution}`` per row."""
    explanation = explain(model, rows, background=background, feature_names=names)
    return {
        "expected_value": explanation.expected_value,
        "method": explanation.method,
        "output": explanation.output,
        "attributions": explanation.records(),
    }


def permutation_shap(
    predict: Callable[[np.ndarray], np.ndarray],
    rows: np.ndarray,
    background: np.ndarray,
    feature_names: Sequence[str],
    n_permutations: int = DEFAULT_PERMUTATIONS,
    seed: int = 0,
    *,
    output: str = RAW,
) -> Explanation:
    """Shapley values by averaging marginal contributions along random feature orders.

    Along each order the contributions telescope to f(x) - mean f(background), so the
    estimate is exactly additive; walking each order forwards and backwards halves the
    variance. Costs 2 · n_permutations · (features + 1) · len(background) calls per row.
    ``output`` names what ``predict`` returns (``raw`` or ``probability``).
    """
    rng = np.random.default_rng(seed)
    d = rows.shape[1]
    orders = [rng.permutation(d) for _ in range(n_permutations)]
    orders += [order[::-1] for order in orders]
    values = np.array([_row_shap(predict, row, background, orders) for row in rows])
    expected = float(np.mean(predict(background)))
    return Explanation(
        values.reshape(len(rows), d), expected, tuple(feature_names), "permutation", output
    )


def _row_shap(
    predict: Callable[[np.ndarray], np.ndarray],
    row: np.ndarray,
    background: np.ndarray,
    orders: list[np.ndarray],
) -> np.ndarray:
    d, m = len(row), len(background)
    steps = np.arange(d + 1)
    batch = np.repeat(background[None, None], len(orders) * (d + 1), axis=0).reshape(
        len(orders), d + 1, m, d
    )
    for p, order in enumerate(orders):
        rank = np.empty(d, dtype=int)
        rank[order] = np.arange(d)
        taken = rank[None, :] < steps[:, None]  # (d + 1) x d: features set to the row's
        batch[p] = np.where(taken[:, None, :], row[None, None, :], batch[p])
    means = predict(batch.reshape(-1, d)).reshape(len(orders), d + 1, m).mean(axis=2)
    phi = np.zeros(d)
    for p, order in enumerate(orders):
        np.add.at(phi, order, np.diff(means[p]))
    return phi / len(orders)


def _tree(booster: Any, matrix: np.ndarray, names: tuple[str, ...]) -> Explanation:
    contributions = np.asarray(booster.predict(matrix, pred_contrib=True))
    d = matrix.shape[1]
    if contributions.shape[1] != d + 1:
        raise InvalidInput("TreeSHAP explanations support single-output LightGBM models")
    bias = contributions[:, -1]
    return Explanation(contributions[:, :d], float(bias[0]), names, "tree", RAW)


def _linear(
    model: Any, matrix: np.ndarray, background: np.ndarray, names: tuple[str, ...]
) -> Explanation | None:
    """Exact SHAP when the decision function is affine: coef · (x - mean)."""
    final = model.steps[-1][1] if hasattr(model, "steps") else model
    if not hasattr(final, "coef_"):
        return None
    method = "decision_function" if hasattr(model, "decision_function") else "predict"
    f = _single_output(_framed(model, getattr(model, method)))
    mean = background.mean(axis=0)
    probes = np.vstack([mean, mean + np.eye(len(mean))])
    at = f(probes)
    coef = at[1:] - at[0]
    values = (matrix - mean) * coef
    scale = max(1.0, float(np.abs(at).max()))
    if np.abs(at[0] + values.sum(axis=1) - f(matrix)).max() > AFFINE_TOLERANCE * scale:
        return None  # not affine after all (a non-linear step in the pipeline)
    return Explanation(values, float(at[0]), names, "linear", RAW)


def _framed(model: Any, method: Callable[[Any], Any]) -> Callable[[np.ndarray], Any]:
    """Call ``method`` with a DataFrame when the model was fitted on named columns."""
    names = getattr(model, "feature_names_in_", None)
    if names is None:
        return method
    import pandas as pd

    return lambda x: method(pd.DataFrame(x, columns=names))


def _output_function(
    model: Any, probe: np.ndarray
) -> tuple[Callable[[np.ndarray], np.ndarray], str]:
    """The function permutation sampling explains, and the name of its output space.

    A model with ``predict_proba`` is explained on its positive-class probability; any
    other is called once on ``probe``: ailayer ``Predictions`` with scores (an ONNX
    classifier's) are probabilities too, anything else is the raw prediction.
    """
    if hasattr(model, "predict_proba"):
        proba = _framed(model, model.predict_proba)
        return (lambda x: np.asarray(proba(x))[:, -1]), PROBABILITY
    predict = _framed(model, getattr(model, "predict", model))
    if not callable(predict):
        raise InvalidInput("the model has no predict() and is not callable", field="model")
    if getattr(predict(probe), "scores", None) is not None:
        return (lambda x: np.asarray(predict(x).scores, dtype=float)), PROBABILITY
    return (lambda x: _values(predict(x), len(x))), RAW


def _values(result: Any, rows: int) -> np.ndarray:
    return np.asarray(getattr(result, "values", result), dtype=float).reshape(rows)


def _single_output(function: Callable[[np.ndarray], Any]) -> Callable[[np.ndarray], np.ndarray]:
    def output(x: np.ndarray) -> np.ndarray:
        result = np.asarray(function(x), dtype=float)
        if result.ndim > 1 and result.shape[1] != 1:
            raise InvalidInput("linear explanations support single-output models", field="model")
        return result.reshape(len(x))

    return output


def _unwrapped(model: Any) -> Any:
    """The booster or estimator inside ailayer's loaded-model wrappers (imported here:
    at module level they would load scikit-learn into every process that imports
    monitoring, a serverless cold start among them)."""
    from ailayer.models.flavors.lightgbm import LightGBMModel
    from ailayer.models.flavors.sklearn import SklearnModel

    if isinstance(model, LightGBMModel):
        return model.booster
    if isinstance(model, SklearnModel):
        return model.estimator
    return model


def _is_lightgbm(model: Any) -> bool:
    return type(model).__module__.split(".")[0] == "lightgbm"


def _matrix(data: Any, field: str) -> np.ndarray:
    try:
        matrix = np.asarray(data, dtype=float)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"{field} must be numeric: {exc}", field=field) from exc
    if matrix.ndim != 2 or len(matrix) == 0:
        raise InvalidInput(f"{field} must be a non-empty 2-D table", field=field)
    return matrix


def _names(model: Any, rows: Any, given: Sequence[str] | None) -> tuple[str, ...]:
    if given is not None:
        return tuple(given)
    columns = getattr(rows, "columns", None)
    if columns is not None:
        return tuple(str(c) for c in columns)
    for attribute in ("feature_names_in_", "feature_name_"):
        names = getattr(model, attribute, None)
        if names is not None:
            return tuple(str(n) for n in names)
    if _is_lightgbm(model) and hasattr(model, "feature_name"):
        return tuple(model.feature_name())
    return tuple(f"x{i}" for i in range(np.shape(rows)[1]))


def _subsample(background: np.ndarray, seed: int) -> np.ndarray:
    if len(background) <= MAX_BACKGROUND:
        return background
    rng = np.random.default_rng(seed)
    return background[rng.choice(len(background), MAX_BACKGROUND, replace=False)]
