"""Alerts: the tenant's rules, what fires now, and the latest notifications with their
delivery outcome (as ``GET /v1/alerts/rules`` and ``GET /v1/alerts``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from ailayer.dashboard.access import reads, services_of
from ailayer.dashboard.pages.page import Page
from ailayer.dashboard.reads.operations import alerts as read_alerts
from ailayer.dashboard.render import render
from ailayer.dashboard.sections import part
from ailayer.dashboard.sessions import Session
from ailayer.governance.roles import Permission

router = APIRouter()
PAGE = Page("Alerts", "/alerts", Permission.MONITORING_READ, router)
Reader = Annotated[Session, Depends(reads(PAGE.permission))]


@router.get("/alerts", response_class=HTMLResponse)
def alerts(request: Request, session: Reader) -> HTMLResponse:
    services = services_of(request)
    found = part("the metadata store", read_alerts, services.alerts, session.principal.tenant_id)
    return render(request, "alerts.html", found=found)
