"""Cost: the tenant's usage and cost per endpoint and model version, events and storage
over the last 30 days (``GET /v1/cost``'s report: computed in the background, since it
counts the predictions in the log, and kept for a minute)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup

from ailayer.dashboard import charts
from ailayer.dashboard.access import reads, services_of
from ailayer.dashboard.pages.page import Page
from ailayer.dashboard.reads.operations import cost as read_cost
from ailayer.dashboard.reads.recent import Recent
from ailayer.dashboard.render import render
from ailayer.dashboard.sections import part
from ailayer.dashboard.sessions import Session
from ailayer.governance.roles import Permission

router = APIRouter()
PAGE = Page("Cost", "/cost", Permission.MONITORING_READ, router)
Reader = Annotated[Session, Depends(reads(PAGE.permission))]
RECENT = Recent(ttl=60.0)


@router.get("/cost", response_class=HTMLResponse)
def cost(request: Request, session: Reader) -> HTMLResponse:
    services = services_of(request)
    tenant = session.principal.tenant_id
    found = part(
        "the metadata store",
        RECENT.soon,
        (tenant, "cost"),
        lambda: read_cost(services.cost, tenant, None, None),
    )
    chart = None
    if isinstance(found, dict) and found["endpoints"]:
        lines = found["endpoints"]
        labels = [
            f"{x['endpoint'] or '(no endpoint)'} · {x['model']} v{x['version']}" for x in lines
        ]
        chart = Markup(
            charts.bar_chart(
                labels,
                {
                    "cpu": [x["cost"]["cpu"] for x in lines],
                    "memory": [x["cost"]["memory"] for x in lines],
                },
                title="Cost per endpoint and version, last 30 days",
                unit="USD",
            )
        )
    return render(request, "cost.html", found=found, chart=chart)
