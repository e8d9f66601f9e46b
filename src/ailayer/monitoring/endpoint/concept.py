"""Concept drift per model version: a streaming detector replayed on its error stream.

The error stream is the prediction log joined with the latest label per prediction id,
in prediction-time order: 1 for a wrong class, 0 for a right one; for regressors the
absolute error; for recommenders 1 - NDCG@10 of the list against its clicks and
purchases (DDM takes 0/1 only, so it is not run on regressors and recommenders). The stream of the
asked range is replayed through a fresh detector each time: the answer depends only on
the stored log and labels, so restarts and several monitors agree, and labels that
arrive days late are counted where their predictions belong.

A version is ``drifting`` when the detector alarmed within ``recent`` (an hour by
default) of its newest labelled prediction.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

import orjson

from ailayer.core.errors import InvalidInput
from ailayer.monitoring import ranking
from ailayer.monitoring.concept import ADWIN, DDM, PageHinkley
from ailayer.monitoring.log.layout import scan
from ailayer.monitoring.log.predictions import (
    PredictionLog,
    time_filter,
    window_bounds,
)

DETECTORS = {"adwin": ADWIN, "ddm": DDM, "page_hinkley": PageHinkley}
DEFAULT_SPAN = timedelta(days=7)
MAX_ALARMS_SHOWN = 20

LABELLED_SQL = """
WITH labels AS (
    SELECT prediction_id, arg_max(label, received_at) AS label
    FROM {feedback} WHERE tenant_id = ? GROUP BY prediction_id
)
SELECT model, version, time, prediction, label
FROM {log} AS p JOIN labels USING (prediction_id)
WHERE p.tenant_id = ? AND p.error IS NULL {where}
ORDER BY time, request_row
"""


class ConceptWatch:
    """Concept-drift status of each model version behind an endpoint."""

    def __init__(self, log: PredictionLog) -> None:
        self.log = log

    def status(
        self,
        tenant_id: str,
        endpoint: str,
        detector: str = "adwin",
        start: datetime | None = None,
        end: datetime | None = None,
        recent: timedelta = timedelta(hours=1),
    ) -> list[dict[str, Any]]:
        """One entry per model version with labelled predictions in [start, end)."""
        if detector not in DETECTORS:
            allowed = ", ".join(DETECTORS)
            raise InvalidInput(
                f"detector must be one of {allowed}; got {detector!r}", field="detector"
            )
        start, end = window_bounds(start, end, DEFAULT_SPAN)
        streams: dict[tuple[str, int], list[tuple]] = defaultdict(list)
        for model, version, time, prediction, label in self._labelled(
            tenant_id, endpoint, start, end
        ):
            streams[(model, version)].append((time, orjson.loads(prediction), orjson.loads(label)))
        return [
            _replay(model, version, rows, detector, recent)
            for (model, version), rows in sorted(streams.items())
        ]

    def _labelled(
        self, tenant_id: str, endpoint: str, start: datetime, end: datetime
    ) -> list[tuple]:
        files = self.log.window_files(tenant_id, endpoint, start, end)
        labels = self.log.label_files(tenant_id)
        if not files or not labels:
            return []
        where, params = time_filter(start, end)
        sql = LABELLED_SQL.format(feedback=scan(labels, hive=False), log=scan(files), where=where)
        return self.log.fetch_all(tenant_id, sql, [tenant_id, tenant_id, *params])


def error_of(prediction: Any, label: Any) -> float:
    """0/1 for classes (booleans, integers, strings), the absolute error for numbers,
    1 - NDCG@10 for a recommendation."""
    if ranking.is_ranking(prediction) and isinstance(label, dict):
        found = ranking.score(ranking.ranked_items(prediction), ranking.grades(label), 10)
        return 1.0 - found.ndcg
    if type(prediction) is float and type(label) in (int, float):
        return abs(prediction - label)
    return float(prediction != label)


def _replay(
    model: str, version: int, rows: list[tuple], detector: str, recent: timedelta
) -> dict[str, Any]:
    errors = [error_of(prediction, label) for _, prediction, label in rows]
    regression = any(type(p) is float for _, p, _ in rows)
    ranked = any(ranking.is_ranking(p) for _, p, _ in rows)
    entry: dict[str, Any] = {
        "model": model,
        "version": version,
        "detector": detector,
        "labelled": len(rows),
        "mean_error": sum(errors) / len(errors),
        "first": rows[0][0],
        "last": rows[-1][0],
    }
    if (regression or ranked) and detector == "ddm":
        kind = "recommender" if ranked else "regressor"
        reason = f"ddm needs 0/1 errors; this version is a {kind} (use adwin or page_hinkley)"
        none = {"alarms": 0, "first_alarm": None, "alarm_times": []}
        none |= {"recent_alarms": None, "drifting": None}
        return {**entry, **none, "reason": reason}
    watcher = DETECTORS[detector]()
    alarms = [rows[i][0] for i, x in enumerate(errors) if watcher.update(x).drift_detected]
    newest = rows[-1][0]
    return {
        **entry,
        "alarms": len(alarms),
        "first_alarm": alarms[0] if alarms else None,
        "alarm_times": alarms[-MAX_ALARMS_SHOWN:],
        "recent_alarms": sum(1 for t in alarms if t >= newest - recent),
        "drifting": bool(alarms) and alarms[-1] >= newest - recent,
        "reason": None,
    }
