"""Ranking metrics of a recommender endpoint per model version and window, from its log.

Each logged recommendation (``{"items": [...]}``) is joined to the latest feedback
posted for its prediction id (``{"clicked": [...], "purchased": [...]}``) and judged by
``monitoring.ranking``: precision, recall and NDCG at ``k`` over the labelled ones, and
coverage over all of them. Coverage's catalog is what the endpoint saw in the window:
every item any version recommended (whole lists) or anyone clicked or bought, so it
compares versions on the same footing without reading model files.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

import orjson

from ailayer.core.errors import InvalidInput
from ailayer.monitoring import ranking
from ailayer.monitoring.log.layout import scan
from ailayer.monitoring.log.performance import DEFAULT_SPANS, WINDOWS
from ailayer.monitoring.log.predictions import PredictionLog, time_filter, window_bounds

NO_LABELS = "SELECT NULL::VARCHAR AS prediction_id, NULL::VARCHAR AS label WHERE false"
LATEST_LABELS = """
SELECT prediction_id, arg_max(label, received_at) AS label
FROM {feedback} WHERE tenant_id = ? GROUP BY prediction_id
"""
ROWS_SQL = """
WITH labels AS ({labels})
SELECT model, version, date_trunc('{unit}', time) AS window_start, prediction, label
FROM {log} AS p LEFT JOIN labels USING (prediction_id)
WHERE p.tenant_id = ? AND p.error IS NULL {where}
ORDER BY window_start, model, version
LIMIT {limit}
"""
MAX_ROWS = 2_000_000  # lists parsed in Python; a window past it is refused, not cut


class EndpointRanking:
    """Precision@k, recall@k, NDCG@k and coverage of an endpoint's recommendations."""

    def __init__(self, log: PredictionLog) -> None:
        self.log = log

    def report(
        self,
        tenant_id: str,
        endpoint: str,
        k: int = 10,
        window: str = "day",
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> dict[str, Any]:
        """Per (model version, window): predictions, labelled, the metrics at ``k``."""
        ranking.check_k(k)
        if window not in WINDOWS:
            raise InvalidInput(f"window must be hour or day; got {window!r}", field="window")
        start, end = window_bounds(start, end, DEFAULT_SPANS[window])
        rows = self._rows(tenant_id, endpoint, window, start, end)
        body = {"endpoint": endpoint, "k": k, "window": window, "start": start, "end": end}
        return {**body, "windows": windows(rows, k, WINDOWS[window])}

    def _rows(
        self, tenant_id: str, endpoint: str, unit: str, start: datetime, end: datetime
    ) -> list[tuple]:
        files = self.log.window_files(tenant_id, endpoint, start, end)
        if not files:
            return []
        labels = self.log.label_files(tenant_id)
        latest = LATEST_LABELS.format(feedback=scan(labels, hive=False)) if labels else NO_LABELS
        where, params = time_filter(start, end)
        sql = ROWS_SQL.format(
            labels=latest, unit=unit, log=scan(files), where=where, limit=MAX_ROWS + 1
        )
        tenant = [tenant_id] if labels else []
        rows = self.log.fetch_all(tenant_id, sql, [*tenant, tenant_id, *params])
        if len(rows) > MAX_ROWS:
            raise InvalidInput(
                f"the window holds more than {MAX_ROWS:,} recommendations of {endpoint!r}; "
                "narrow it (start, end)",
                field="start",
            )
        return rows


def windows(rows: list[tuple], k: int, width: Any) -> list[dict[str, Any]]:
    """Rows of (model, version, window_start, prediction JSON, label JSON or None) → one
    summary per (model, version, window), in the rows' order."""
    groups: dict[tuple, list[tuple[list, dict | None]]] = defaultdict(list)
    catalog: set[Any] = set()
    for model, version, window_start, prediction, label in rows:
        items = ranking.ranked_items(orjson.loads(prediction)) if prediction else []
        feedback = orjson.loads(label) if label else None
        graded = ranking.grades(feedback) if isinstance(feedback, dict) else None
        catalog.update(items)
        if graded is not None:
            catalog.update(graded)
        groups[(model, version, window_start)].append((items, graded))
    return [_window(key, group, k, len(catalog), width) for key, group in groups.items()]


def _window(
    key: tuple, group: list[tuple[list, dict | None]], k: int, catalog: int, width: Any
) -> dict[str, Any]:
    model, version, window_start = key
    labelled = [(items, graded) for items, graded in group if graded is not None]
    found = ranking.summary(labelled, k)
    return {
        "model": model,
        "version": version,
        "window_start": window_start,
        "window_end": window_start + width,
        "predictions": len(group),
        **found,
        f"coverage@{k}": ranking.coverage((items for items, _ in group), k, catalog),
        "distinct_items": len({i for items, _ in group for i in items[:k]}),
        "catalog": catalog,
    }
