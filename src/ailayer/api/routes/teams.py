"""Team and ownership routes.

POST   /v1/teams                   create a team (admin)
GET    /v1/teams                   the tenant's teams, their active keys and owned objects
DELETE /v1/teams/{name}            delete an empty team (admin; 409 while in use)
GET    /v1/owners                  owned objects (?kind=, ?team=)
GET    /v1/owners/{kind}/{name}    one object's owner team (null: nobody's)
PUT    /v1/owners/{kind}/{name}    give an object to a team, or to none (admin; audited)
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response
from pydantic import BaseModel, Field

from ailayer.api.auth import requires
from ailayer.api.content import JsonBody
from ailayer.api.errors import body_responses, error_responses
from ailayer.api.ownership import ownership, require_exists
from ailayer.api.params import Name
from ailayer.api.schemas import Strict
from ailayer.core.names import NAME_REGEX, NAME_RULE
from ailayer.governance.ownership import KINDS, Kind
from ailayer.governance.principal import Principal
from ailayer.governance.roles import Permission
from ailayer.governance.teams import TeamService

router = APIRouter(tags=["teams"])
Admin = Annotated[Principal, Depends(requires(Permission.TEAMS_MANAGE))]
Reader = Annotated[Principal, Depends(requires(Permission.MODELS_READ))]
KindParam = Annotated[Kind, Path(description=f"One of {', '.join(KINDS)}")]


class TeamIn(Strict):
    name: str = Field(pattern=NAME_REGEX, max_length=100, description=NAME_RULE)


class TeamOut(BaseModel):
    name: str
    created_at: datetime
    created_by: str | None
    keys: int = Field(description="Active keys in the team")
    owns: int = Field(description="Objects the team owns")


class OwnerIn(Strict):
    team: str | None = Field(
        pattern=NAME_REGEX, max_length=100, description="An existing team; null: no owner."
    )


class OwnerOut(BaseModel):
    kind: str
    name: str
    team: str | None
    updated_at: datetime | None = None
    updated_by: str | None = None


def _teams(request: Request) -> TeamService:
    return TeamService(request.app.state.services.db)


@router.post(
    "/v1/teams", response_model=TeamOut, status_code=201, responses=body_responses(403, 409, 422)
)
def create_team(body: TeamIn, request: Request, principal: Admin, _json: JsonBody) -> dict:
    return _teams(request).create(principal.tenant_id, body.name, actor=principal.actor)


@router.get("/v1/teams", response_model=list[TeamOut], responses=error_responses(403))
def list_teams(request: Request, principal: Reader) -> list[dict]:
    return _teams(request).list(principal.tenant_id)


@router.delete("/v1/teams/{name}", status_code=204, responses=error_responses(403, 404, 409))
def delete_team(name: Name, request: Request, principal: Admin) -> Response:
    """Only a team without active keys and owned objects can go (409 says what holds it)."""
    _teams(request).delete(principal.tenant_id, name, actor=principal.actor)
    return Response(status_code=204)


@router.get("/v1/owners", response_model=list[OwnerOut], responses=error_responses(403, 422))
def list_owners(
    request: Request, principal: Reader, kind: Kind | None = None, team: str | None = None
) -> list[dict]:
    return ownership(request).list(principal.tenant_id, kind, team)


@router.get(
    "/v1/owners/{kind}/{name}", response_model=OwnerOut, responses=error_responses(403, 422)
)
def show_owner(kind: KindParam, name: Name, request: Request, principal: Reader) -> dict:
    return ownership(request).get(principal.tenant_id, kind, name)


@router.put(
    "/v1/owners/{kind}/{name}",
    response_model=OwnerOut,
    responses=body_responses(403, 404, 422),
)
def set_owner(
    kind: KindParam, name: Name, body: OwnerIn, request: Request, principal: Admin, _json: JsonBody
) -> dict:
    """Give the object to ``team``, or to nobody with null; recorded in the audit trail as
    ``owner.set`` with the previous owner."""
    require_exists(request.app.state.services, principal.tenant_id, kind, name)
    return ownership(request).set(principal.tenant_id, kind, name, body.team, actor=principal.actor)
