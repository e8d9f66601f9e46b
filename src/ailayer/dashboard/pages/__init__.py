"""The console's pages, in navigation order. Adding a page is adding a module here (with
a ``PAGE``), a template under ``templates/``, and one entry in ``PAGES``."""

from __future__ import annotations

from ailayer.dashboard.pages import (
    alerts,
    audit,
    cost,
    deployments,
    events,
    features,
    models,
    monitoring,
    overview,
    pipelines,
)
from ailayer.dashboard.pages.page import Page

PAGES: list[Page] = [
    overview.PAGE,
    models.PAGE,
    deployments.PAGE,
    monitoring.PAGE,
    features.PAGE,
    events.PAGE,
    alerts.PAGE,
    pipelines.PAGE,
    audit.PAGE,
    cost.PAGE,
]

__all__ = ["PAGES", "Page"]
