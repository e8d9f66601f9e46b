"""Endpoint reports: one self-contained HTML file with drift and metrics over time.

    endpoint_report(drift, performance, ranking, tenant, "fraud") -> "<!doctype html>…"

``page`` lays out the page, ``charts`` draws inline SVG from drift summaries and
performance (and, for a recommender, ranking) windows, ``lineage`` each version's lineage
as a graph; nothing is fetched when the file is opened.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Protocol

from ailayer.core.clock import utcnow
from ailayer.core.errors import InvalidInput, NotFound
from ailayer.monitoring.endpoint.drift import DEFAULT_SPAN, EndpointDrift
from ailayer.monitoring.endpoint.ranking import EndpointRanking
from ailayer.monitoring.endpoint.report.page import render
from ailayer.monitoring.log.performance import PerformanceMonitor
from ailayer.monitoring.log.predictions import window_bounds

HOURLY_UP_TO = timedelta(days=3)  # longer windows chart metrics per day
RANKING_K = 10  # the cut-off of the report's ranking section (as /ranking's default)

__all__ = ["LineageSource", "endpoint_report", "render"]


class LineageSource(Protocol):
    """Where a version's lineage JSON comes from (``pipelines.lineage.Lineage``; handed
    in, so monitoring does not reach into pipelines)."""

    def of(self, tenant_id: str, model: str, version: int) -> dict[str, Any]: ...


def endpoint_report(
    drift: EndpointDrift,
    performance: PerformanceMonitor,
    ranking: EndpointRanking,
    tenant_id: str,
    endpoint: str,
    start: datetime | None = None,
    end: datetime | None = None,
    lineage: LineageSource | None = None,
    extra: Callable[[datetime], str] | None = None,
) -> str:
    """Drift of every model version in the window, and its metrics per hour (or day);
    for an endpoint that answers ranked lists, its ranking metrics too; with ``lineage``,
    each version's lineage graph. ``extra``: more sections as HTML for the window's end
    (the cost advice of the day before it)."""
    start, end = window_bounds(start, end, DEFAULT_SPAN)
    versions = drift.report(tenant_id, endpoint, start, end)
    unit = "hour" if end - start <= HOURLY_UP_TO else "day"
    windows = performance.report(tenant_id, endpoint, unit, start, end)
    ranked = _ranking(ranking, tenant_id, endpoint, unit, start, end)
    seen = list(dict.fromkeys((v.model, v.version) for v in versions))
    graphs = _lineages(lineage, tenant_id, seen) if lineage is not None else []
    more = extra(end) if extra is not None else ""
    return render(endpoint, versions, windows, start, end, utcnow(), ranked, graphs, more)


def _lineages(
    lineage: LineageSource, tenant_id: str, versions: list[tuple[str, int]]
) -> list[dict[str, Any]]:
    """Each version's lineage; a version gone from the registry meanwhile is skipped."""
    found = []
    for model, version in versions:
        try:
            found.append(lineage.of(tenant_id, model, version))
        except NotFound:
            continue
    return found


def _ranking(
    ranking: EndpointRanking,
    tenant_id: str,
    endpoint: str,
    unit: str,
    start: datetime,
    end: datetime,
) -> dict[str, Any] | None:
    """The ranking report of a recommender, None for any other endpoint. The cheap probe
    comes first, so an endpoint that never answered a ranked list pays one row's read; a
    window too large to judge is said on the page rather than failing the whole report."""
    if not ranking.ranks(tenant_id, endpoint, start, end):
        return None
    try:
        return ranking.report(tenant_id, endpoint, RANKING_K, unit, start, end)
    except InvalidInput as refused:
        return {"k": RANKING_K, "window": unit, "refused": refused.message, "versions": []}
