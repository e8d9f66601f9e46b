"""Data subject requests (admin only: the ``privacy:manage`` permission): export what
ailayer holds about a subject, or erase it with a receipt in the audit trail."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from ailayer.api.auth import requires
from ailayer.api.content import JsonBody
from ailayer.api.errors import body_responses
from ailayer.governance.principal import Principal
from ailayer.governance.privacy import PrivacyService, Subject
from ailayer.governance.roles import Permission

router = APIRouter(tags=["privacy"])
Admin = Annotated[Principal, Depends(requires(Permission.PRIVACY_MANAGE))]


class SubjectIn(BaseModel):
    subject: str = Field(description="the subject's join key and value: customer_id=42")


def _privacy(request: Request) -> PrivacyService:
    return request.app.state.services.privacy


@router.post("/v1/privacy/export", responses=body_responses(403, 422))
def export(body: SubjectIn, request: Request, principal: Admin, _json: JsonBody) -> dict[str, Any]:
    """Every record of the subject per store (customer-owned sources named, not read)."""
    subject = Subject.parse(body.subject)
    return _privacy(request).export(principal.tenant_id, principal.actor, subject)


@router.post("/v1/privacy/delete", responses=body_responses(403, 422))
def delete(body: SubjectIn, request: Request, principal: Admin, _json: JsonBody) -> dict[str, Any]:
    """Erase the subject everywhere ailayer keeps it and tombstone it; the receipt (also in
    the audit trail). ``complete: false`` names the stores that failed: send it again."""
    subject = Subject.parse(body.subject)
    return _privacy(request).delete(principal.tenant_id, principal.actor, subject)
