"""Requests, error rate and p99 of an endpoint over a recent window, counted the way
``GET /v1/monitoring/{endpoint}/performance`` counts them (requests: rows with
``request_row = 0``; errors: failed rows; p99: answered requests), read from the log's
5-minute rollups plus the parts written since their last pass
(``LogRollup.live_windows``), so a page never scans the whole log. Windows are whole
5-minute buckets; p99 is read from the rollups' latency histogram (within one bin, 9 %)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from ailayer.monitoring.log.rollup import LogRollup

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
    rollup: LogRollup, tenant_id: str, endpoint: str, start: datetime, end: datetime
) -> Traffic:
    """The endpoint's traffic in ``[start, end)`` (zero when nothing was logged)."""
    found = rollup.live_windows(tenant_id, start, end, endpoint=endpoint).get((endpoint,))
    if found is None:
        return Traffic(0, 0, None)
    return Traffic(found.requests, found.errors, found.p99_ms)


def recent(rollup: LogRollup, tenant_id: str, endpoint: str, now: datetime) -> dict[str, Traffic]:
    """The last hour and the last day up to ``now``, by window name."""
    return {
        name: traffic(rollup, tenant_id, endpoint, now - width, now)
        for name, width in WINDOWS.items()
    }


QUIET = {name: Traffic(0, 0, None) for name in WINDOWS}  # an endpoint with nothing logged


def every_endpoint(
    rollup: LogRollup, tenant_id: str, now: datetime
) -> dict[str, dict[str, Traffic]]:
    """``recent`` of every endpoint with traffic, read once for all of them."""
    found: dict[str, dict[str, Traffic]] = {}
    for name, width in WINDOWS.items():
        for (endpoint,), w in rollup.live_windows(tenant_id, now - width, now).items():
            found.setdefault(endpoint, dict(QUIET))[name] = Traffic(w.requests, w.errors, w.p99_ms)
    return found
