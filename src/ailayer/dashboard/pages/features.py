"""Features: the applied views, entities and feature services, each view's
materialization freshness (now minus its watermark) and its rows online (written by the
last run) and offline (in its Parquet source)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from ailayer.dashboard.access import reads, services_of
from ailayer.dashboard.pages.page import Page
from ailayer.dashboard.reads.features import features as read_features
from ailayer.dashboard.render import render
from ailayer.dashboard.sections import part
from ailayer.dashboard.sessions import Session
from ailayer.governance.roles import Permission
from ailayer.pipelines.sizes import OfflineSizes

router = APIRouter()
PAGE = Page("Features", "/features", Permission.FEATURES_READ, router)
Reader = Annotated[Session, Depends(reads(PAGE.permission))]


@router.get("/features", response_class=HTMLResponse)
def features(request: Request, session: Reader) -> HTMLResponse:
    services = services_of(request)
    sizes = OfflineSizes(services.offline.tenant_root)
    found = part(
        "the metadata store",
        read_features,
        services.features,
        services.db,
        sizes,
        session.principal.tenant_id,
    )
    return render(request, "features.html", found=found)
