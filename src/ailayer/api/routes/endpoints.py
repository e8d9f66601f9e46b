"""Endpoint routes: name → (model, alias)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from ailayer.api.auth import requires
from ailayer.api.content import JsonBody
from ailayer.api.errors import body_responses, error_responses
from ailayer.api.ownership import changes, claim, endpoint_exists
from ailayer.api.params import Name
from ailayer.api.schemas import EndpointIn, EndpointOut
from ailayer.governance.principal import Principal
from ailayer.governance.roles import Permission

router = APIRouter(prefix="/v1/endpoints", tags=["endpoints"])


@router.get("", response_model=list[EndpointOut], responses=error_responses(403))
def list_endpoints(
    request: Request, principal: Annotated[Principal, Depends(requires(Permission.MODELS_READ))]
) -> list[dict]:
    """The tenant's endpoints; for a key narrowed to endpoints, only those."""
    listed = request.app.state.services.endpoints.list(principal.tenant_id)
    if principal.endpoints is None:
        return listed
    return [row for row in listed if row["name"] in principal.endpoints]


@router.put("/{name}", response_model=EndpointOut, responses=body_responses(403, 422))
def put_endpoint(
    name: Name,
    body: EndpointIn,
    request: Request,
    principal: Annotated[Principal, Depends(changes(Permission.MODELS_WRITE, "endpoint", "name"))],
    _json: JsonBody,
) -> dict:
    services = request.app.state.services
    new = not endpoint_exists(services, principal.tenant_id, name)
    stored = services.endpoints.put(
        principal.tenant_id, principal.actor, name, body.model, body.alias
    )
    if new:  # a new endpoint: its creator's team owns it
        claim(request, principal, "endpoint", name)
    return stored
