"""Model quality metrics on labelled predictions, vectorized, equal to scikit-learn's.

Where scikit-learn would warn and substitute a number (precision with no predicted
positives, ROC AUC with one class, R² with a constant target) these return ``None``:
"undefined" is an answer a dashboard can show, a silent 0 is not. Any finite inputs give
finite answers: regression errors are computed on values scaled by a power of two (an
error beyond the float range is reported at ±1.8e308), and scores outside [0, 1] count
as 0 or 1 where they are read as probabilities.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ailayer.monitoring.numeric import capped, exponent, ratio, scaled, unscaled

CALIBRATION_BINS = 10


def _ratio(numerator: float, denominator: float) -> float | None:
    return float(numerator / denominator) if denominator else None


def _f1(precision: float | None, recall: float | None) -> float | None:
    if precision is None or recall is None:
        return None
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def binary_metrics(y_true: np.ndarray, y_pred: np.ndarray, scores: np.ndarray) -> dict:
    """``y_true``/``y_pred`` are 0/1 arrays, ``scores`` positive-class probabilities."""
    tp = float(np.sum((y_pred == 1) & (y_true == 1)))
    precision = _ratio(tp, float(np.sum(y_pred == 1)))
    recall = _ratio(tp, float(np.sum(y_true == 1)))
    ece, bins = calibration(y_true, scores)
    return {
        "accuracy": float(np.mean(y_true == y_pred)),
        "precision": precision,
        "recall": recall,
        "f1": _f1(precision, recall),
        "roc_auc": roc_auc(y_true, scores),
        "log_loss": log_loss(y_true, scores),
        "ece": ece,
        "calibration": bins,
    }


def multiclass_metrics(y_true: Sequence[Any], y_pred: Sequence[Any]) -> dict:
    """Accuracy and macro-averaged precision, recall and F1 over the classes seen."""
    truth, predicted = np.asarray(y_true, dtype=object), np.asarray(y_pred, dtype=object)
    per_class = []
    for label in sorted(set(truth.tolist()) | set(predicted.tolist()), key=repr):
        tp = float(np.sum((predicted == label) & (truth == label)))
        p = _ratio(tp, float(np.sum(predicted == label)))
        r = _ratio(tp, float(np.sum(truth == label)))
        per_class.append((p, r, _f1(p, r)))
    return {
        "accuracy": float(np.mean(truth == predicted)),
        **{
            name: _macro([c[k] for c in per_class])
            for k, name in enumerate(("precision", "recall", "f1"))
        },
    }


def _macro(values: list[float | None]) -> float | None:
    return None if any(v is None for v in values) else float(np.mean(values))


def roc_auc(y_true: np.ndarray, scores: np.ndarray) -> float | None:
    """Mann-Whitney form: the chance a positive outranks a negative (ties count half)."""
    positives = int(np.sum(y_true == 1))
    negatives = len(y_true) - positives
    if positives == 0 or negatives == 0:
        return None
    from scipy.stats import rankdata  # imported on first use, not at start-up

    ranks = rankdata(scores)
    rank_sum = float(np.sum(ranks[y_true == 1]))
    return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)


def log_loss(y_true: np.ndarray, scores: np.ndarray) -> float:
    """Mean negative log-likelihood, probabilities clipped to [eps, 1 - eps] as sklearn."""
    eps = np.finfo(np.float64).eps
    p = np.clip(scores.astype(np.float64), eps, 1 - eps)
    return float(-np.mean(y_true * np.log(p) + (1 - y_true) * np.log(1 - p)))


def calibration(
    y_true: np.ndarray, scores: np.ndarray, n_bins: int = CALIBRATION_BINS
) -> tuple[float, list[dict]]:
    """Expected calibration error and the reliability bins it is made of.

    Bins split [0, 1] evenly as ``sklearn.calibration.calibration_curve`` does (a score
    on an edge goes to the lower bin); ECE is the count-weighted mean gap between each
    bin's mean score and its fraction of positives. Empty bins are left out.
    """
    scores = np.clip(scores, 0.0, 1.0)  # a probability; a wilder score is a model's bug
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    index = np.searchsorted(edges[1:-1], scores)
    counts = np.bincount(index, minlength=n_bins)
    score_sums = np.bincount(index, weights=scores, minlength=n_bins)
    positive_sums = np.bincount(index, weights=y_true.astype(float), minlength=n_bins)
    bins, gap = [], 0.0
    for b in np.flatnonzero(counts):
        mean_score, positive = score_sums[b] / counts[b], positive_sums[b] / counts[b]
        gap += counts[b] * abs(positive - mean_score)
        bins.append(
            {
                "lower": float(edges[b]),
                "upper": float(edges[b + 1]),
                "count": int(counts[b]),
                "mean_score": float(mean_score),
                "fraction_positive": float(positive),
            }
        )
    return float(gap / len(scores)), bins


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict:
    """MAE, RMSE and R² on values scaled by powers of two (scaled back, capped at the
    float range), so no finite input overflows them."""
    e = exponent(_top(y_true), _top(y_pred))
    error = scaled(y_pred, e) - scaled(y_true, e)
    squared = float(np.sum(error**2))
    return {
        "mae": float(unscaled(np.mean(np.abs(error)), e)),
        "rmse": float(unscaled(np.sqrt(squared / len(error)), e)),
        "r2": _r2(y_true, squared, e),
    }


def _r2(y_true: np.ndarray, squared: float, e: int) -> float | None:
    """1 - SSE/SST, with SSE given scaled by 2**-2e and SST scaled by the truth's own."""
    e_truth = exponent(_top(y_true))
    truth = scaled(y_true, e_truth)
    spread = float(np.sum((truth - truth.mean()) ** 2))
    if spread <= 0 or len(truth) < 2:
        return None
    return capped(1 - float(unscaled(ratio(squared, spread), 2 * (e - e_truth))))


def _top(values: np.ndarray) -> float:
    return float(np.abs(values).max(initial=0.0))
