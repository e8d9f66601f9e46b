"""Audit: the tenant's audit trail, newest first, filtered by actor, action and target
prefix and a time range, paged by sequence number (``governance.audit.entries``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from ailayer.core.errors import InvalidInput
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
    since: Annotated[str, Query(max_length=40)] = "",
    until: Annotated[str, Query(max_length=40)] = "",
    before: Annotated[int | None, Query(ge=1)] = None,
) -> HTMLResponse:
    """``since`` and ``until`` are ISO 8601 times (naive is UTC; empty: no bound), as the
    form's date-time fields send them."""
    start, end = _time("since", since), _time("until", until)
    wanted = AuditFilter(actor.strip(), action.strip(), target.strip(), start, end, before)
    services = services_of(request)
    found = part(
        "the metadata store", audit_entries, services.db, session.principal.tenant_id, wanted
    )
    filters = {"actor": actor, "action": action, "target": target}
    filters |= {"since": since.strip(), "until": until.strip()}
    more = None
    if getattr(found, "next_before", None) is not None:
        more = "?" + urlencode(
            {**{k: v for k, v in filters.items() if v}, "before": found.next_before}
        )
    return render(request, "audit.html", found=found, filters=filters, more=more)


def _time(field: str, text: str) -> datetime | None:
    if not text.strip():
        return None
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(f"{field} must be an ISO 8601 time; got {text!r}", field=field) from None
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
