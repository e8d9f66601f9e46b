"""Performance per model version and tumbling window (hour or day, UTC-aligned).

Operations (requests, errors, error rate; latency p50/p95/p99 of answered requests) come
from all logged requests, aggregated in DuckDB; quality metrics from the labelled predictions
(the log joined to the latest feedback per prediction id), computed in ``metrics``.
Each window is compared with the version's training-time ``metrics`` in the registry.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import orjson

from ailayer.core.errors import InvalidInput, NotFound
from ailayer.models.service import ModelRegistry
from ailayer.monitoring import ranking
from ailayer.monitoring.log import metrics
from ailayer.monitoring.log.layout import scan
from ailayer.monitoring.log.predictions import PredictionLog, time_filter, window_bounds
from ailayer.monitoring.numeric import capped, unscaled

WINDOWS = {"hour": timedelta(hours=1), "day": timedelta(days=1)}
DEFAULT_SPANS = {"hour": timedelta(days=1), "day": timedelta(days=30)}
TRAINING_NAMES = {"auc": "roc_auc", "logloss": "log_loss", "mse": None, "r_squared": "r2"}
# Mean scores are averaged on scores times 2**-SHRINK (exact), so that no score a model
# can return, up to ±1.8e308, overflows DuckDB's sum; the mean is scaled back, capped.
SHRINK = 1000
RANKING_K = 10  # the cut-off of a recommender's metrics here; /ranking takes any k

OPERATIONS_SQL = """
SELECT model, version, date_trunc('{unit}', time) AS window_start,
       count(*) FILTER (WHERE request_row = 0) AS requests,
       count(*) FILTER (WHERE error IS NULL) AS predictions,
       count(*) FILTER (WHERE error IS NOT NULL) AS errors,
       quantile_cont(latency_ms, [0.5, 0.95, 0.99])
           FILTER (WHERE request_row = 0 AND error IS NULL) AS latency,
       avg(score * {shrink}) FILTER (WHERE error IS NULL) AS mean_score,
       avg(greatest(score, 1 - score) * {shrink}) FILTER (WHERE error IS NULL)
           AS mean_confidence
FROM {log} WHERE tenant_id = ? {where}
GROUP BY ALL ORDER BY window_start, model, version
"""

LABELLED_SQL = """
WITH labels AS (
    SELECT prediction_id, arg_max(label, received_at) AS label
    FROM {feedback} WHERE tenant_id = ? GROUP BY prediction_id
)
SELECT model, version, date_trunc('{unit}', time) AS window_start,
       prediction, score, probabilities, label
FROM {log} AS p JOIN labels USING (prediction_id)
WHERE p.tenant_id = ? AND p.error IS NULL {where}
"""


class PerformanceMonitor:
    def __init__(self, log: PredictionLog, registry: ModelRegistry) -> None:
        self.log = log
        self.registry = registry

    def report(
        self,
        tenant_id: str,
        endpoint: str,
        window: str = "hour",
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> dict:
        """Per (model version, window) operations, quality and training comparison."""
        if window not in WINDOWS:
            raise InvalidInput(f"window must be hour or day; got {window!r}", field="window")
        start, end = window_bounds(start, end, DEFAULT_SPANS[window])
        files = self.log.window_files(tenant_id, endpoint, start, end)
        labels = self.log.label_files(tenant_id)
        windows = self._windows(tenant_id, files, labels, window, start, end)
        body = {"endpoint": endpoint, "window": window, "start": start, "end": end}
        return {**body, "windows": windows}

    def _windows(
        self,
        tenant_id: str,
        files: list[str],
        labels: list[str],
        unit: str,
        start: datetime,
        end: datetime,
    ) -> list[dict]:
        if not files:
            return []
        where, params = time_filter(start, end)
        con = self.log.connect(tenant_id)
        try:
            sql = OPERATIONS_SQL.format(
                unit=unit, log=scan(files), where=where, shrink=repr(2.0**-SHRINK)
            )
            operations = con.execute(sql, [tenant_id, *params]).fetchall()
            labelled: list[tuple] = []
            if labels:
                sql = LABELLED_SQL.format(
                    unit=unit, feedback=scan(labels, hive=False), log=scan(files), where=where
                )
                labelled = con.execute(sql, [tenant_id, tenant_id, *params]).fetchall()
        finally:
            con.close()
        groups: dict[tuple, list[tuple]] = defaultdict(list)
        for model, version, window_start, *rest in labelled:
            groups[(model, version, window_start)].append(tuple(rest))
        training: dict[tuple, dict] = {}
        return [
            self._window(tenant_id, row, groups.get(row[:3], []), WINDOWS[unit], training)
            for row in operations
        ]

    def _window(
        self,
        tenant_id: str,
        row: tuple,
        labelled: list[tuple],
        width: timedelta,
        training: dict[tuple, dict],
    ) -> dict:
        model, version, window_start, requests, predictions, errors, latency, *scores = row
        if (model, version) not in training:
            training[(model, version)] = self._training(tenant_id, model, version)
        task, quality = quality_metrics(labelled)
        p50, p95, p99 = latency or (None, None, None)
        return {
            "model": model,
            "version": version,
            "window_start": window_start,
            "window_end": window_start + width,
            "requests": requests,
            "predictions": predictions,
            "errors": errors,
            "error_rate": errors / requests if requests else None,
            "latency_ms": {"p50": p50, "p95": p95, "p99": p99},
            "mean_score": _grown(scores[0]),
            "mean_confidence": _grown(scores[1]),
            "labelled": len(labelled),
            "task": task,
            "metrics": quality,
            "training_metrics": training[(model, version)],
            "vs_training": compare(quality, training[(model, version)]),
        }

    def _training(self, tenant_id: str, model: str, version: int) -> dict:
        try:
            return dict(self.registry.get_version(tenant_id, model, version).metrics)
        except NotFound:
            return {}


def compare(live: dict, training: dict) -> dict:
    """``{metric: {training, live, delta}}`` for metrics known at training and now."""
    result = {}
    for name, trained in training.items():
        live_name = TRAINING_NAMES.get(name, name)
        value = live.get(live_name) if live_name else None
        if isinstance(value, int | float) and isinstance(trained, int | float):
            delta = capped(value - trained)
            result[live_name] = {"training": trained, "live": value, "delta": delta}
    return result


def _grown(mean: float | None) -> float | None:
    """A mean of scores shrunk by 2**-SHRINK, back to the scores' scale."""
    return None if mean is None else float(unscaled(mean, SHRINK))


def quality_metrics(rows: list[tuple]) -> tuple[str | None, dict]:
    """(task, metrics) for labelled rows of (prediction, score, probabilities, label) JSON."""
    if not rows:
        return None, {}
    predictions = [orjson.loads(r[0]) for r in rows]
    labels = [orjson.loads(r[3]) for r in rows]
    if any(ranking.is_ranking(p) for p in predictions):
        return "ranking", ranking_quality(predictions, labels)
    scores = [r[1] for r in rows]
    if all(s is not None for s in scores) and all(r[2] is None for r in rows):
        return "binary", _binary(predictions, np.array(scores, dtype=float), labels)
    if all(s is None for s in scores) and all(_is_number(p) for p in predictions + labels):
        truth, predicted = np.array(labels, dtype=float), np.array(predictions, dtype=float)
        return "regression", metrics.regression_metrics(truth, predicted)
    return "multiclass", metrics.multiclass_metrics(labels, predictions)


def ranking_quality(predictions: list, labels: list, k: int = RANKING_K) -> dict:
    """Precision, recall and NDCG at ``k`` of recommendations and their clicks/purchases."""
    rows = [
        (ranking.ranked_items(p), ranking.grades(label))
        for p, label in zip(predictions, labels, strict=True)
        if ranking.is_ranking(p) and isinstance(label, dict)
    ]
    found = ranking.summary(rows, k)
    return {name: value for name, value in found.items() if name != "labelled"}


def _is_number(value: Any) -> bool:
    return type(value) in (int, float)


def _binary(predictions: list, scores: np.ndarray, labels: list) -> dict:
    positive = positive_class(predictions, scores, labels)
    y_true = np.array([label == positive for label in labels], dtype=int)
    y_pred = np.array([p == positive for p in predictions], dtype=int)
    return metrics.binary_metrics(y_true, y_pred, scores)


def positive_class(predictions: list, scores: np.ndarray, labels: list) -> Any:
    """The class ``score`` is the probability of: what high-score rows predict.

    Without such rows: scikit-learn's order (the larger of the two classes seen), and
    ``True``/``1`` when only one class was seen.
    """
    above = [p for p, s in zip(predictions, scores, strict=True) if s > 0.5]
    if above:
        return above[0]
    seen = sorted(set(predictions) | set(labels), key=lambda v: (str(type(v)), v))
    if len(seen) == 2:
        return seen[1]
    below = {p for p, s in zip(predictions, scores, strict=True) if s <= 0.5}
    others = [v for v in seen if v not in below]
    return others[0] if others else True
