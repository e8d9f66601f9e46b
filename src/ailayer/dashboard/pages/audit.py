"""Audit: the tenant's audit trail, newest first, filtered by actor, action and target
prefix and a time range, paged by sequence number (``governance.audit.entries``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from ailayer.dashboard.access import reads, services_of
from ailayer.dashboard.pages.page import Page
from ailayer.dashboard.reads.operations import AuditFilter, audit_entries
from ailayer.dashboard.render import render
from ailayer.dashboard.sections import part
from ailayer.dashboard.sessions import Session
from ailayer.governance.roles import Permission

router = APIRouter()
PAGE = Page("Audit", "/audit", Permission.AUDIT_READ, router)
Reader = Annotated[Session, Depends(reads(PAGE.permission))]
Text = Annotated[str, Query(max_length=400)]


@router.get("/audit", response_class=HTMLResponse)
def audit_page(
    request: Request,
    session: Reader,
    actor: Text = "",
    action: Text = "",
    target: Text = "",
    since: datetime | None = None,
    until: datetime | None = None,
    before: Annotated[int | None, Query(ge=1)] = None,
) -> HTMLResponse:
    wanted = AuditFilter(
        actor.strip(), action.strip(), target.strip(), _utc(since), _utc(until), before
    )
    services = services_of(request)
    found = part(
        "the metadata store", audit_entries, services.db, session.principal.tenant_id, wanted
    )
    filters = {"actor": actor, "action": action, "target": target}
    filters |= {
        "since": since.isoformat() if since else "",
        "until": until.isoformat() if until else "",
    }
    more = None
    if getattr(found, "next_before", None) is not None:
        more = "?" + urlencode(
            {**{k: v for k, v in filters.items() if v}, "before": found.next_before}
        )
    return render(request, "audit.html", found=found, filters=filters, more=more)


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
