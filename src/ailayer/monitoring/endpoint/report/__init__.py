"""Endpoint reports: one self-contained HTML file with drift and metrics over time.

    endpoint_report(drift, performance, ranking, tenant, "fraud") -> "<!doctype html>…"

``page`` lays out the page, ``charts`` draws inline SVG from drift summaries and
performance (and, for a recommender, ranking) windows; nothing is fetched when the file
is opened.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from ailayer.core.clock import utcnow
from ailayer.core.errors import InvalidInput
from ailayer.monitoring.endpoint.drift import DEFAULT_SPAN, EndpointDrift
from ailayer.monitoring.endpoint.ranking import EndpointRanking
from ailayer.monitoring.endpoint.report.page import render
from ailayer.monitoring.log.performance import PerformanceMonitor
from ailayer.monitoring.log.predictions import window_bounds

HOURLY_UP_TO = timedelta(days=3)  # longer windows chart metrics per day
RANKING_K = 10  # the cut-off of the report's ranking section (as /ranking's default)

__all__ = ["endpoint_report", "render"]


def endpoint_report(
    drift: EndpointDrift,
    performance: PerformanceMonitor,
    ranking: EndpointRanking,
    tenant_id: str,
    endpoint: str,
    start: datetime | None = None,
    end: datetime | None = None,
    extra: Callable[[datetime], str] | None = None,
) -> str:
    """Drift of every model version in the window, and its metrics per hour (or day);
    for an endpoint that answers ranked lists, its ranking metrics too. ``extra``: more
    sections as HTML for the window's end (the cost advice of the day before it)."""
    start, end = window_bounds(start, end, DEFAULT_SPAN)
    versions = drift.report(tenant_id, endpoint, start, end)
    unit = "hour" if end - start <= HOURLY_UP_TO else "day"
    windows = performance.report(tenant_id, endpoint, unit, start, end)
    ranked = _ranking(ranking, tenant_id, endpoint, unit, start, end)
    more = extra(end) if extra is not None else ""
    return render(endpoint, versions, windows, start, end, utcnow(), ranked, more)


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
