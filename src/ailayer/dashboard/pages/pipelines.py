"""Pipelines: the declared training pipelines and those with runs, each with its latest
runs (status, step, metrics, the version it registered), as the pipelines API lists them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from ailayer.dashboard.access import reads, services_of
from ailayer.dashboard.pages.page import Page
from ailayer.dashboard.reads.operations import pipelines as read_pipelines
from ailayer.dashboard.render import render
from ailayer.dashboard.sections import part
from ailayer.dashboard.sessions import Session
from ailayer.governance.roles import Permission

router = APIRouter()
PAGE = Page("Pipelines", "/pipelines", Permission.MODELS_READ, router)
Reader = Annotated[Session, Depends(reads(PAGE.permission))]


@router.get("/pipelines", response_class=HTMLResponse)
def pipelines(request: Request, session: Reader) -> HTMLResponse:
    services = services_of(request)
    found = part(
        "the metadata store", read_pipelines, services.pipelines, session.principal.tenant_id
    )
    return render(request, "pipelines.html", found=found)
