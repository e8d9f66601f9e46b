"""What a tenant's usage cost over a window: the price table applied to measured usage.

Per endpoint and model version: predictions (from the prediction log), CPU seconds and
model memory (measured by the serving processes, ``cost.usage``). CPU and memory are
measured per model version; a version behind several endpoints is split between them by
their shares of its predictions. Beside them: events in and out, and the bytes each
store holds now (``cost.storage``), billed for the window's share of a month.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from ailayer.core.errors import InvalidInput
from ailayer.core.prices import check_prices
from ailayer.cost.storage import StoredBytes
from ailayer.cost.usage import CPU, EVENTS, MEMORY
from ailayer.db.engine import Database
from ailayer.db.tables import cost_usage
from ailayer.monitoring.log.layout import scan
from ailayer.monitoring.log.predictions import PredictionLog, as_utc, window_bounds

GIB = float(1 << 30)
MONTH_SECONDS = 30 * 24 * 3600.0
DEFAULT_SPAN = timedelta(days=30)

PREDICTIONS_SQL = """
SELECT endpoint, model, version,
       count(*) FILTER (WHERE error IS NULL) AS predictions,
       count(*) FILTER (WHERE request_row = 0) AS requests
FROM {log} WHERE tenant_id = ? AND time >= ? AND time < ?
GROUP BY ALL
"""


def usage_totals(
    db: Database, tenant_id: str, start: datetime, end: datetime
) -> dict[tuple[str, str, int], float]:
    """(resource, model, version) → the summed quantity of ``[start, end)``."""
    query = (
        select(cost_usage.c.resource, cost_usage.c.model, cost_usage.c.version)
        .add_columns(func.sum(cost_usage.c.quantity))
        .where(cost_usage.c.tenant_id == tenant_id)
        .where(cost_usage.c.at >= start, cost_usage.c.at < end)
        .group_by(cost_usage.c.resource, cost_usage.c.model, cost_usage.c.version)
    )
    with db.read() as conn:
        return {(r[0], r[1], r[2]): float(r[3] or 0) for r in conn.execute(query)}


def logged_predictions(
    log: PredictionLog, tenant_id: str, start: datetime, end: datetime
) -> list[tuple[str, str, int, int, int]]:
    """(endpoint, model, version, predictions, requests) of ``[start, end)`` in the log."""
    files = log.window_files(tenant_id, None, start, end)
    if not files:
        return []
    sql = PREDICTIONS_SQL.format(log=scan(files))
    return [tuple(row) for row in log.fetch_all(tenant_id, sql, [tenant_id, start, end])]


class CostReport:
    def __init__(
        self,
        db: Database,
        log: PredictionLog,
        storage: StoredBytes,
        prices: dict[str, float],
    ) -> None:
        self.db = db
        self.log = log
        self.storage = storage
        self.prices = check_prices(prices)

    def report(
        self, tenant_id: str, start: datetime | None = None, end: datetime | None = None
    ) -> dict[str, Any]:
        """The tenant's usage and cost over ``[start, end)`` (default: the last 30 days)."""
        if start is not None and end is not None and as_utc(start) >= as_utc(end):
            raise InvalidInput("since must be before until", field="since")
        start, end = window_bounds(start, end, DEFAULT_SPAN)
        usage = usage_totals(self.db, tenant_id, start, end)
        lines = self._lines(usage, logged_predictions(self.log, tenant_id, start, end))
        events = {name: int(usage.get((name, "", 0), 0)) for name in EVENTS.values()}
        events_cost = sum(events.values()) / 1e6 * self.prices["events_million"]
        months = (end - start).total_seconds() / MONTH_SECONDS
        stores = [
            {"store": store, "bytes": nbytes, "cost": self._storage(nbytes, months)}
            for store, nbytes in self.storage.stored(tenant_id).items()
        ]
        total = sum(line["cost"]["total"] for line in lines) + events_cost
        total += sum(store["cost"] for store in stores)
        return {
            "tenant_id": tenant_id,
            "start": start,
            "end": end,
            "prices": self.prices,
            "endpoints": lines,
            "events": {**events, "cost": events_cost},
            "storage": stores,
            "total": total,
        }

    def _storage(self, nbytes: int, months: float) -> float:
        return nbytes / GIB * self.prices["storage_gib_month"] * months

    def _lines(
        self, usage: dict[tuple[str, str, int], float], logged: list[tuple]
    ) -> list[dict[str, Any]]:
        """One line per (endpoint, model, version): logged ones, then measured versions
        the log has no prediction of (endpoint "")."""
        per_version: dict[tuple[str, int], int] = defaultdict(int)
        for _, model, version, predictions, _ in logged:
            per_version[(model, version)] += predictions
        versions = {(m, v) for (r, m, v) in usage if r in (CPU, MEMORY)}
        rows = list(logged) + [("", m, v, 0, 0) for m, v in sorted(versions - per_version.keys())]
        lines = []
        for endpoint, model, version, predictions, requests in rows:
            total = per_version.get((model, version), 0)
            share = predictions / total if total else 1.0
            cpu = usage.get((CPU, model, version), 0.0) * share
            memory = usage.get((MEMORY, model, version), 0.0) * share
            lines.append(self._line(endpoint, model, version, predictions, requests, cpu, memory))
        return sorted(lines, key=lambda line: -line["cost"]["total"])

    def _line(
        self,
        endpoint: str,
        model: str,
        version: int,
        predictions: int,
        requests: int,
        cpu: float,
        memory: float,
    ) -> dict[str, Any]:
        cpu_cost = cpu / 3600 * self.prices["cpu_hour"]
        memory_gib_hours = memory / GIB / 3600
        memory_cost = memory_gib_hours * self.prices["memory_gib_hour"]
        return {
            "endpoint": endpoint,
            "model": model,
            "version": int(version),
            "predictions": int(predictions),
            "requests": int(requests),
            "cpu_seconds": cpu,
            "cpu_ms_per_prediction": cpu * 1000 / predictions if predictions else None,
            "memory_gib_hours": memory_gib_hours,
            "cost": {"cpu": cpu_cost, "memory": memory_cost, "total": cpu_cost + memory_cost},
        }
