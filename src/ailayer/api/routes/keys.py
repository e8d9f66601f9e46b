"""API key routes (admin only). A new key is in the response once and nowhere else."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from ailayer.api.auth import requires
from ailayer.api.content import JsonBody
from ailayer.api.errors import body_responses, error_responses
from ailayer.api.params import Name
from ailayer.api.schemas import (
    AuditEntry,
    KeyCreated,
    KeyExpiry,
    KeyExpiryIn,
    KeyIn,
    KeyOut,
    KeyRotated,
    KeyRotateIn,
)
from ailayer.db.engine import Database
from ailayer.governance import audit
from ailayer.governance.principal import Principal
from ailayer.governance.roles import Permission

router = APIRouter(tags=["keys"])
Admin = Annotated[Principal, Depends(requires(Permission.KEYS_MANAGE))]


@router.post(
    "/v1/keys", response_model=KeyCreated, status_code=201, responses=body_responses(403, 404, 422)
)
def create_key(body: KeyIn, request: Request, principal: Admin, _json: JsonBody) -> dict:
    """A new key; ``expires_at`` ends it, ``endpoints`` narrows it to those endpoints; a
    ``team`` must exist in the tenant (404 naming it otherwise)."""
    keys = request.app.state.services.keys
    created = keys.create_key(
        principal.tenant_id,
        body.name,
        body.role,
        actor=principal.actor,
        expires_at=body.expires_at,
        endpoints=body.endpoints,
        team=body.team,
    )
    return asdict(created)


@router.get("/v1/keys", response_model=list[KeyOut], responses=error_responses(403))
def list_keys(request: Request, principal: Admin) -> list[dict]:
    return request.app.state.services.keys.list_keys(principal.tenant_id)


@router.delete("/v1/keys/{prefix}", status_code=204, responses=error_responses(403, 404, 409))
def revoke_key(prefix: str, request: Request, principal: Admin) -> Response:
    """Revoke a key. The tenant's last active admin key is refused (409): create another
    admin key first (see docs/security.md)."""
    request.app.state.services.keys.revoke_key(principal.tenant_id, prefix, actor=principal.actor)
    return Response(status_code=204)


@router.post(
    "/v1/keys/{name}/rotate",
    response_model=KeyRotated,
    status_code=201,
    responses=body_responses(403, 404, 409, 422),
)
def rotate_key(
    name: Name, request: Request, principal: Admin, _json: JsonBody, body: KeyRotateIn | None = None
) -> dict:
    """A new secret for the active key with this name (or prefix): same role, scope and
    expiry. The old secret keeps working for ``overlap_seconds`` (default an hour)."""
    overlap = KeyRotateIn().overlap_seconds if body is None else body.overlap_seconds
    keys = request.app.state.services.keys
    rotated = keys.rotate_key(principal.tenant_id, name, overlap, actor=principal.actor)
    return {
        **asdict(rotated.created),
        "old_prefix": rotated.old_prefix,
        "old_valid_until": rotated.old_valid_until,
    }


@router.put(
    "/v1/keys/{prefix}/expiry",
    response_model=KeyExpiry,
    responses=body_responses(403, 404, 409, 422),
)
def set_key_expiry(
    prefix: str, body: KeyExpiryIn, request: Request, principal: Admin, _json: JsonBody
) -> dict:
    """Set or clear a key's expiry. The tenant's last admin key without one is refused
    (409), as its revocation is."""
    keys = request.app.state.services.keys
    return keys.set_expiry(principal.tenant_id, prefix, body.expires_at, actor=principal.actor)


@router.get("/v1/audit", response_model=list[AuditEntry], responses=error_responses(403))
def audit_entries(
    request: Request,
    principal: Annotated[Principal, Depends(requires(Permission.AUDIT_READ))],
    target: str = "",
    limit: int = 100,
) -> list[dict]:
    db: Database = request.app.state.services.db
    with db.read() as conn:
        return audit.entries(conn, principal.tenant_id, target, min(max(limit, 1), 1000))
