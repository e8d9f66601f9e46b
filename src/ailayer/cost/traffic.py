"""An endpoint's traffic shape from its prediction log: what the cost advisor reads.

Over one day (by default the 24 hours before now): requests and predictions per minute
(every minute of the day, quiet ones as 0), answered requests' p50 and p99 latency, and
from the measured usage (``cost.usage``) the CPU seconds per prediction and the bytes its
models held while loaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from sqlalchemy import func, select

from ailayer.cost.usage import CPU, MEMORY
from ailayer.db.engine import Database
from ailayer.db.tables import cost_usage
from ailayer.monitoring.log.layout import scan
from ailayer.monitoring.log.predictions import PredictionLog, window_bounds

DAY = timedelta(days=1)

MINUTES_SQL = """
SELECT CAST(floor(epoch(time - CAST(? AS TIMESTAMPTZ)) / 60) AS INTEGER) AS minute,
       count(*) FILTER (WHERE request_row = 0) AS requests,
       count(*) FILTER (WHERE error IS NULL) AS predictions
FROM {log} WHERE tenant_id = ? AND time >= ? AND time < ?
GROUP BY 1
"""
LATENCY_SQL = """
SELECT quantile_cont(latency_ms, 0.5), quantile_cont(latency_ms, 0.99)
FROM {log}
WHERE tenant_id = ? AND time >= ? AND time < ? AND request_row = 0 AND error IS NULL
"""
VERSIONS_SQL = """
SELECT model, version, count(*) FROM {log}
WHERE tenant_id = ? AND time >= ? AND time < ? AND error IS NULL GROUP BY ALL
"""


@dataclass(frozen=True, slots=True)
class Traffic:
    """One endpoint's day. ``requests`` and ``predictions`` hold one count per minute."""

    endpoint: str
    start: datetime
    end: datetime
    requests: np.ndarray
    predictions: np.ndarray
    p50_ms: float | None
    p99_ms: float | None
    cpu_per_prediction: float | None  # seconds; None: no CPU measured in the window
    model_bytes: float  # mean bytes its versions held while loaded (0: none measured)

    @property
    def minutes(self) -> int:
        return len(self.requests)


class TrafficReader:
    def __init__(self, db: Database, log: PredictionLog) -> None:
        self.db = db
        self.log = log

    def day(
        self,
        tenant_id: str,
        endpoint: str,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> Traffic:
        """``endpoint``'s traffic over ``[start, end)`` (default: the day before now)."""
        start, end = window_bounds(start, end, DAY)
        minutes = max(int((end - start).total_seconds() // 60), 1)
        requests = np.zeros(minutes, np.int64)
        predictions = np.zeros(minutes, np.int64)
        files = self.log.window_files(tenant_id, endpoint, start, end)
        p50 = p99 = None
        versions: list[tuple] = []
        if files:
            log = scan(files)
            window = [tenant_id, start, end]
            sql = MINUTES_SQL.format(log=log)
            for minute, asked, answered in self.log.fetch_all(tenant_id, sql, [start, *window]):
                if 0 <= minute < minutes:
                    requests[minute], predictions[minute] = asked, answered
            p50, p99 = self.log.fetch_all(tenant_id, LATENCY_SQL.format(log=log), window)[0]
            versions = self.log.fetch_all(tenant_id, VERSIONS_SQL.format(log=log), window)
        cpu, nbytes = self._usage(tenant_id, versions, start, end)
        return Traffic(endpoint, start, end, requests, predictions, p50, p99, cpu, nbytes)

    def _usage(
        self, tenant_id: str, versions: list[tuple], start: datetime, end: datetime
    ) -> tuple[float | None, float]:
        """CPU seconds per prediction over the versions the endpoint served (each
        weighted by its predictions), and the largest mean bytes one of them held."""
        cpu_total = counted = 0.0
        largest = 0.0
        for model, version, predictions in versions:
            usage = self._version_usage(tenant_id, model, version, start, end)
            if CPU in usage:
                cpu_total += usage[CPU][0]
                counted += predictions
            if MEMORY in usage and usage[MEMORY][1] > 0:
                largest = max(largest, usage[MEMORY][0] / usage[MEMORY][1])
        return (cpu_total / counted if counted else None), largest

    def _version_usage(
        self, tenant_id: str, model: str, version: int, start: datetime, end: datetime
    ) -> dict[str, tuple[float, float]]:
        """resource → (summed quantity, summed period seconds) of one version."""
        c = cost_usage.c
        query = (
            select(c.resource, func.sum(c.quantity), func.sum(c.seconds))
            .where(c.tenant_id == tenant_id, c.model == model, c.version == version)
            .where(c.at >= start, c.at < end, c.resource.in_((CPU, MEMORY)))
            .group_by(c.resource)
        )
        with self.db.read() as conn:
            return {r[0]: (float(r[1] or 0), float(r[2] or 0)) for r in conn.execute(query)}
