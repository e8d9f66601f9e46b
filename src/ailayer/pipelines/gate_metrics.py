"""What the gates measure on a candidate's holdout: metrics, decisions, latency.

Anything that stops a measurement (a missing column, NaN labels or scores, a model that
raises, a metric that is undefined on these labels) is an ``Unmeasurable`` with the
reason, which the gate turns into a failed check: a gate fails closed. A model's own
warnings (overflow on extreme inputs, say) are silenced here: the gate judges the
numbers it returns.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sklearn import metrics as skm

if TYPE_CHECKING:
    from ailayer.pipelines.gates import Candidate


class Unmeasurable(Exception):
    """A value a gate needs cannot be measured; the message says why."""


@dataclass(frozen=True)
class Metric:
    """A holdout metric: what it is computed from, its range and which way is better."""

    compute: Callable[[np.ndarray, np.ndarray, np.ndarray], float]  # (y, scores, classes)
    needs_proba: bool
    range: tuple[float, float]
    higher_is_better: bool


def _auc(y: np.ndarray, proba: np.ndarray, classes: np.ndarray) -> float:
    if proba.shape[1] == 2:
        return float(skm.roc_auc_score(y == classes[1], proba[:, 1]))
    return float(skm.roc_auc_score(y, proba, multi_class="ovr", labels=classes))


def _log_loss(y: np.ndarray, proba: np.ndarray, classes: np.ndarray) -> float:
    return float(skm.log_loss(y, proba, labels=classes))


def _averaged(score: Callable[..., float]) -> Callable[[np.ndarray, np.ndarray, np.ndarray], float]:
    """A precision-like score: of the positive class for two classes, else macro-averaged.
    Undefined (no predicted or no true positives) is NaN, which fails the gate."""

    def compute(y: np.ndarray, pred: np.ndarray, classes: np.ndarray) -> float:
        if len(classes) == 2:
            return float(score(y, pred, pos_label=classes[1], zero_division=np.nan))
        return float(score(y, pred, average="macro", labels=classes, zero_division=np.nan))

    return compute


def _accuracy(y: np.ndarray, pred: np.ndarray, classes: np.ndarray) -> float:
    return float(skm.accuracy_score(y, pred))


UNIT = (0.0, 1.0)
METRICS: dict[str, Metric] = {
    "auc": Metric(_auc, True, UNIT, True),
    "accuracy": Metric(_accuracy, False, UNIT, True),
    "f1": Metric(_averaged(skm.f1_score), False, UNIT, True),
    "precision": Metric(_averaged(skm.precision_score), False, UNIT, True),
    "recall": Metric(_averaged(skm.recall_score), False, UNIT, True),
    "log_loss": Metric(_log_loss, True, (0.0, math.inf), False),
}


def metric_value(name: str, model: Any, candidate: Candidate, *, who: str = "candidate") -> float:
    """``name`` of ``model``'s predictions on the holdout (may be NaN: the caller judges)."""
    metric = METRICS[name]
    y = labels(candidate)
    scores = (
        _proba(model, candidate, who) if metric.needs_proba else _predict(model, candidate, who)
    )
    classes = _classes(model, y)
    try:
        with _quiet():
            return metric.compute(y, scores, classes)
    except (ValueError, TypeError, IndexError) as exc:
        raise Unmeasurable(f"{name} of the {who} is undefined on the holdout: {exc}") from None


def labels(candidate: Candidate) -> np.ndarray:
    """The holdout's label column, refused when missing, empty or with missing values."""
    frame = _holdout(candidate)
    if candidate.label not in frame.columns:
        raise Unmeasurable(f"holdout has no label column {candidate.label!r}")
    column = frame[candidate.label]
    missing = int(column.isna().sum())
    if missing:
        raise Unmeasurable(f"label {candidate.label!r} has {missing} missing values")
    return column.to_numpy()


def decisions(model: Any, candidate: Candidate, threshold: float | None) -> np.ndarray:
    """``predict``, or the positive class's probability cut at ``threshold``."""
    if threshold is None:
        return _predict(model, candidate, "candidate")
    proba = _proba(model, candidate, "candidate")
    if proba.shape[1] != 2:
        raise Unmeasurable(f"a threshold needs two classes; the model has {proba.shape[1]}")
    return (proba[:, 1] >= threshold).astype(int)


def p99_latency_ms(model: Any, candidate: Candidate, rows: int, warmup: int) -> float:
    """p99 in milliseconds of ``rows`` timed one-row calls, cycling over holdout rows."""
    inputs = _inputs(model, candidate, "candidate")
    call = getattr(model, "predict_proba", None) or getattr(model, "predict", None)
    if call is None:
        raise Unmeasurable("candidate has neither predict_proba nor predict")
    one_row = _row_getter(inputs)
    times = np.empty(rows, dtype=float)
    try:
        with _quiet():
            for i in range(warmup + rows):
                row = one_row(i % len(inputs))
                started = time.perf_counter_ns()
                call(row)
                if i >= warmup:
                    times[i - warmup] = time.perf_counter_ns() - started
    except Exception as exc:
        raise Unmeasurable(f"candidate failed to predict one row: {_error(exc)}") from None
    return float(np.percentile(times, 99)) / 1e6


def _row_getter(inputs: pd.DataFrame | np.ndarray) -> Callable[[int], Any]:
    if isinstance(inputs, pd.DataFrame):
        return lambda i: inputs.iloc[i : i + 1]
    return lambda i: inputs[i : i + 1]


def _holdout(candidate: Candidate) -> pd.DataFrame:
    frame = candidate.holdout
    if not isinstance(frame, pd.DataFrame):
        raise Unmeasurable(f"holdout must be a DataFrame; got {type(frame).__name__}")
    if frame.empty:
        raise Unmeasurable("holdout has no rows")
    return frame


def _inputs(model: Any, candidate: Candidate, who: str) -> pd.DataFrame | np.ndarray:
    """The model's input columns from the holdout: the champion may have been trained on
    other features than the candidate, so a model that knows its columns gets those."""
    frame = _holdout(candidate)
    known = getattr(model, "feature_names_in_", None)
    columns = [str(c) for c in known] if known is not None else list(candidate.features)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise Unmeasurable(f"holdout lacks the {who}'s input columns {missing}")
    return frame[columns] if known is not None else frame[columns].to_numpy()


def _predict(model: Any, candidate: Candidate, who: str) -> np.ndarray:
    inputs = _inputs(model, candidate, who)
    try:
        with _quiet():
            pred = np.asarray(model.predict(inputs))
    except Exception as exc:
        raise Unmeasurable(f"{who} failed to predict the holdout: {_error(exc)}") from None
    if pred.dtype.kind == "f" and not np.isfinite(pred).all():
        raise Unmeasurable(f"{who}'s predictions contain NaN or infinity")
    return pred.reshape(-1)


def _proba(model: Any, candidate: Candidate, who: str) -> np.ndarray:
    if not hasattr(model, "predict_proba"):
        raise Unmeasurable(f"{who} has no predict_proba")
    inputs = _inputs(model, candidate, who)
    try:
        with _quiet():
            proba = np.asarray(model.predict_proba(inputs), dtype=float)
    except Exception as exc:
        raise Unmeasurable(f"{who} failed to score the holdout: {_error(exc)}") from None
    if proba.ndim != 2:
        raise Unmeasurable(
            f"{who}'s predict_proba returned shape {proba.shape}, not (rows, classes)"
        )
    if not np.isfinite(proba).all():
        raise Unmeasurable(f"{who}'s probabilities contain NaN or infinity")
    return proba


def _classes(model: Any, y: np.ndarray) -> np.ndarray:
    classes = getattr(model, "classes_", None)
    return np.asarray(classes) if classes is not None else np.unique(y)


def _error(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"


@contextmanager
def _quiet() -> Iterator[None]:
    """Silence warnings and floating-point alarms of a model or metric call."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        yield
