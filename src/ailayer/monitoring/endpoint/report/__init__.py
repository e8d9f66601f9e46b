"""Endpoint reports: one self-contained HTML file with drift and metrics over time.

    endpoint_report(drift, performance, tenant, "fraud") -> "<!doctype html>…"

``page`` lays out the page, ``charts`` draws inline SVG from drift summaries and
performance windows; nothing is fetched when the file is opened.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from ailayer.core.clock import utcnow
from ailayer.monitoring.endpoint.drift import DEFAULT_SPAN, EndpointDrift
from ailayer.monitoring.endpoint.report.page import render
from ailayer.monitoring.log.performance import PerformanceMonitor
from ailayer.monitoring.log.predictions import window_bounds

HOURLY_UP_TO = timedelta(days=3)  # longer windows chart metrics per day

__all__ = ["endpoint_report", "render"]


def endpoint_report(
    drift: EndpointDrift,
    performance: PerformanceMonitor,
    tenant_id: str,
    endpoint: str,
    start: datetime | None = None,
    end: datetime | None = None,
) -> str:
    """Drift of every model version in the window, and its metrics per hour (or day)."""
    start, end = window_bounds(start, end, DEFAULT_SPAN)
    versions = drift.report(tenant_id, endpoint, start, end)
    unit = "hour" if end - start <= HOURLY_UP_TO else "day"
    windows = performance.report(tenant_id, endpoint, unit, start, end)
    return render(endpoint, versions, windows, start, end, utcnow())
