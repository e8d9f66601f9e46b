"""Endpoint reports: one self-contained HTML file with drift and metrics over time.

    endpoint_report(services, tenant, "fraud") -> "<!doctype html>…"

``page`` lays out the page, ``charts`` draws inline SVG from drift summaries and
performance windows; nothing is fetched when the file is opened.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from ailayer.core.clock import utcnow
from ailayer.monitoring.endpoint_drift import DEFAULT_SPAN
from ailayer.monitoring.log.predictions import window_bounds
from ailayer.monitoring.report.page import render

if TYPE_CHECKING:
    from ailayer.bootstrap import Services

HOURLY_UP_TO = timedelta(days=3)  # longer windows chart metrics per day

__all__ = ["endpoint_report", "render"]


def endpoint_report(
    services: Services,
    tenant_id: str,
    endpoint: str,
    start: datetime | None = None,
    end: datetime | None = None,
) -> str:
    """Drift of every model version in the window, and its metrics per hour (or day)."""
    start, end = window_bounds(start, end, DEFAULT_SPAN)
    versions = services.drift.windows(tenant_id, endpoint, start, end)
    unit = "hour" if end - start <= HOURLY_UP_TO else "day"
    performance = services.performance.report(tenant_id, endpoint, unit, start, end)
    return render(endpoint, versions, performance, start, end, utcnow())
