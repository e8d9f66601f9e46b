"""Requests, error rate and p99 of an endpoint over a recent window, read from the
prediction log the way ``GET /v1/monitoring/{endpoint}/performance`` counts them
(requests: rows with ``request_row = 0``; errors: failed rows; p99: answered requests),
but over the whole window at once rather than per version and hour."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from ailayer.monitoring.log.layout import scan
from ailayer.monitoring.log.predictions import PredictionLog

SQL = """
SELECT count(*) FILTER (WHERE request_row = 0) AS requests,
       count(*) FILTER (WHERE error IS NOT NULL) AS errors,
       quantile_cont(latency_ms, 0.99) FILTER (WHERE request_row = 0 AND error IS NULL)
FROM {log} WHERE tenant_id = ? AND time >= ? AND time < ?
"""
WINDOWS = {"hour": timedelta(hours=1), "day": timedelta(days=1)}


@dataclass(frozen=True)
class Traffic:
    """What an endpoint answered in ``[start, end)``."""

    requests: int
    errors: int
    p99_ms: float | None

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.requests if self.requests else None


def traffic(
    log: PredictionLog, tenant_id: str, endpoint: str, start: datetime, end: datetime
) -> Traffic:
    """The endpoint's traffic in ``[start, end)`` (zero without any logged file)."""
    files = log.window_files(tenant_id, endpoint, start, end)
    if not files:
        return Traffic(0, 0, None)
    sql = SQL.format(log=scan(files))
    requests, errors, p99 = log.fetch_all(tenant_id, sql, [tenant_id, start, end])[0]
    return Traffic(int(requests), int(errors), p99)


def recent(log: PredictionLog, tenant_id: str, endpoint: str, now: datetime) -> dict[str, Traffic]:
    """The last hour and the last day up to ``now``, by window name."""
    return {
        name: traffic(log, tenant_id, endpoint, now - width, now) for name, width in WINDOWS.items()
    }
