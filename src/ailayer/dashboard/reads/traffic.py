"""Requests, errors and latency of endpoints, from the log's rollups (never its rows)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from ailayer.monitoring.log.rollup import BUCKET_SECONDS, LogRollup, Window


@dataclass(frozen=True)
class Totals:
    """One window's sums; ``p99_ms`` is read from the latency histogram (within 9 %)."""

    requests: int
    errors: int
    error_rate: float | None
    p99_ms: float | None
    mean_score: float | None

    @classmethod
    def of(cls, window: Window | None) -> Totals:
        if window is None:
            return cls(0, 0, None, None, None)
        return cls(
            window.requests, window.errors, window.error_rate, window.p99_ms, window.mean_score
        )


@dataclass(frozen=True)
class EndpointTraffic:
    endpoint: str
    hour: Totals
    day: Totals


@dataclass(frozen=True)
class Point:
    at: datetime
    totals: Totals


@dataclass(frozen=True)
class VersionTraffic:
    """One model version (and the variant or alias it was served under) over time."""

    model: str
    version: int
    alias: str
    points: list[Point]

    @property
    def label(self) -> str:
        return f"{self.model} v{self.version}" + (f" ({self.alias})" if self.alias else "")


def endpoints(
    rollup: LogRollup, tenant_id: str, now: datetime | None = None, *, hour: bool = True
) -> list[EndpointTraffic]:
    """Every endpoint with traffic in the last day: its last hour (unless ``hour`` is
    False: then all zeros, not read) and last day."""
    now = now or datetime.now(UTC)
    day = rollup.live_windows(tenant_id, now - timedelta(days=1), now)
    last_hour = rollup.live_windows(tenant_id, now - timedelta(hours=1), now) if hour else {}
    return [
        EndpointTraffic(key[0], Totals.of(last_hour.get(key)), Totals.of(day[key]))
        for key in sorted(day)
    ]


def step_for(span: timedelta, points: int = 48) -> int:
    """A step (a multiple of the rollup bucket) giving about ``points`` points over ``span``."""
    seconds = max(int(span.total_seconds() / points), BUCKET_SECONDS)
    return (seconds + BUCKET_SECONDS - 1) // BUCKET_SECONDS * BUCKET_SECONDS


def versions(
    rollup: LogRollup,
    tenant_id: str,
    endpoint: str,
    start: datetime,
    end: datetime,
    step_seconds: int | None = None,
) -> list[VersionTraffic]:
    """Per model version and variant, the endpoint's totals per step over ``[start, end)``."""
    step = step_seconds or step_for(end - start)
    series = rollup.series(
        tenant_id,
        start,
        end,
        step_seconds=step,
        endpoint=endpoint,
        by=("model", "version", "alias"),
    )
    return [
        VersionTraffic(model, version, alias, [Point(at, Totals.of(w)) for at, w in points])
        for (model, version, alias), points in sorted(series.items())
    ]
