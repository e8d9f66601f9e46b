"""Ranking metrics of a recommender endpoint per model version and window, from its log.

Each logged recommendation (``{"items": [...]}``) is joined to the latest feedback
posted for its prediction id (``{"clicked": [...], "purchased": [...]}``) and judged by
``monitoring.ranking``: precision, recall and NDCG at ``k`` over the labelled ones, and
coverage over all of them. Coverage's catalog is what the endpoint saw in the window:
every item any version recommended (whole lists) or anyone clicked or bought, so it
compares versions on the same footing without reading model files. Beside the windows,
each version's totals over the whole span: the HTML report's table reads them.
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
Judged = tuple[list | None, dict | None]  # (ranked items, grades) of one prediction
MAX_ROWS = 2_000_000  # lists parsed in Python; a window past it is refused, not cut
RANKED_SQL = """
SELECT 1 FROM {log}
WHERE tenant_id = ? AND error IS NULL AND json_type(prediction, '$.items') = 'ARRAY' {where}
LIMIT 1
"""


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
        """Per (model version, window): predictions, labelled, the metrics at ``k``; and
        per model version, the same over the whole span."""
        ranking.check_k(k)
        if window not in WINDOWS:
            raise InvalidInput(f"window must be hour or day; got {window!r}", field="window")
        start, end = window_bounds(start, end, DEFAULT_SPANS[window])
        rows = self._rows(tenant_id, endpoint, window, start, end)
        body = {"endpoint": endpoint, "k": k, "window": window, "start": start, "end": end}
        groups, catalog = _parsed(rows)
        return {
            **body,
            "versions": _versions(groups, k, catalog),
            "windows": [_window(key, g, k, catalog, WINDOWS[window]) for key, g in groups.items()],
        }

    def ranks(self, tenant_id: str, endpoint: str, start: datetime, end: datetime) -> bool:
        """Whether any answered prediction of ``endpoint`` in ``[start, end)`` is a ranked
        list: at most one row is read, so a caller can ask before the full report (which
        parses every prediction) for an endpoint that may not recommend at all."""
        files = self.log.window_files(tenant_id, endpoint, start, end)
        if not files:
            return False
        where, params = time_filter(start, end)
        sql = RANKED_SQL.format(log=scan(files), where=where)
        return bool(self.log.fetch_all(tenant_id, sql, [tenant_id, *params]))

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


def _versions(groups: dict[tuple, list[Judged]], k: int, catalog: int) -> list[dict[str, Any]]:
    """One summary per (model, version) over all its windows, in order of first window."""
    merged: dict[tuple, list[Judged]] = defaultdict(list)
    for (model, version, _), group in groups.items():
        merged[(model, version)] += group
    return [
        {"model": model, "version": version, **_summary(group, k, catalog)}
        for (model, version), group in merged.items()
    ]


def _parsed(rows: list[tuple]) -> tuple[dict[tuple, list[Judged]], int]:
    """Rows grouped per (model, version, window) as (ranked items or None for a
    prediction that is no ranked list, grades or None without feedback), and the size of
    the span's catalog."""
    groups: dict[tuple, list[Judged]] = defaultdict(list)
    catalog: set[Any] = set()
    for model, version, window_start, prediction, label in rows:
        shown = orjson.loads(prediction) if prediction else None
        items = ranking.ranked_items(shown) if ranking.is_ranking(shown) else None
        feedback = orjson.loads(label) if label else None
        graded = ranking.grades(feedback) if isinstance(feedback, dict) else None
        catalog.update(items or ())
        if graded is not None:
            catalog.update(graded)
        groups[(model, version, window_start)].append((items, graded))
    return groups, len(catalog)


def _window(key: tuple, group: list[Judged], k: int, catalog: int, width: Any) -> dict[str, Any]:
    model, version, window_start = key
    return {
        "model": model,
        "version": version,
        "window_start": window_start,
        "window_end": window_start + width,
        **_summary(group, k, catalog),
    }


def _summary(group: list[Judged], k: int, catalog: int) -> dict[str, Any]:
    """``ranked`` counts the predictions that were ranked lists; ``relevant`` the
    labelled ones with something relevant, the sample of ``recall@k``."""
    lists = [items or [] for items, _ in group]
    labelled = [(items or [], graded) for items, graded in group if graded is not None]
    return {
        "predictions": len(group),
        "ranked": sum(1 for items, _ in group if items is not None),
        **ranking.summary(labelled, k),
        "relevant": sum(1 for _, graded in labelled if graded),
        f"coverage@{k}": ranking.coverage(lists, k, catalog),
        "distinct_items": len({i for items in lists for i in items[:k]}),
        "catalog": catalog,
    }
