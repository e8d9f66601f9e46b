"""Alert routes: rules per tenant, what is firing and what was sent, concept-drift status."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal

import orjson
from anyio import to_thread
from fastapi import APIRouter, Depends, Query, Request, Response

from ailayer.api.auth import requires
from ailayer.api.content import JsonBody
from ailayer.api.errors import body_responses, error_responses
from ailayer.api.params import Name, Timestamp
from ailayer.api.schemas import ALERT_RULE_BODY, AlertRuleOut, AlertsOut, ConceptReport
from ailayer.core.errors import BadRequest
from ailayer.core.names import check_name
from ailayer.governance.principal import Principal
from ailayer.governance.roles import Permission
from ailayer.monitoring.alerting import rule_from_dict

router = APIRouter(tags=["alerts"])
Reader = Annotated[Principal, Depends(requires(Permission.MONITORING_READ))]
Writer = Annotated[Principal, Depends(requires(Permission.MONITORING_WRITE))]
RECENT = {"hour": timedelta(hours=1), "day": timedelta(days=1)}


@router.post(
    "/v1/alerts/rules",
    response_model=AlertRuleOut,
    status_code=201,
    responses=body_responses(403, 409, 422),
    openapi_extra={"requestBody": ALERT_RULE_BODY},
    summary="Declare an alert rule (evaluated by the monitor on every interval)",
)
async def create_rule(request: Request, principal: Writer, _json: JsonBody) -> dict:
    """422 names the field that is wrong; 409 when a rule of that name exists."""
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"the body must be a JSON object: {exc}") from None
    rule = rule_from_dict(body)
    store = request.app.state.services.alerts
    stored = await to_thread.run_sync(
        lambda: store.add_rule(principal.tenant_id, rule, actor=principal.actor)
    )
    return stored.to_dict()


@router.get("/v1/alerts/rules", response_model=list[AlertRuleOut], responses=error_responses(403))
def list_rules(request: Request, principal: Reader) -> list[dict]:
    return [s.to_dict() for s in request.app.state.services.alerts.rules(principal.tenant_id)]


@router.get(
    "/v1/alerts/rules/{name}", response_model=AlertRuleOut, responses=error_responses(403, 404)
)
def get_rule(name: Name, request: Request, principal: Reader) -> dict:
    return request.app.state.services.alerts.rule(principal.tenant_id, name).to_dict()


@router.delete("/v1/alerts/rules/{name}", status_code=204, responses=error_responses(403, 404))
def delete_rule(name: Name, request: Request, principal: Writer) -> Response:
    """Removes the rule and its state; notifications already sent stay in the history."""
    store = request.app.state.services.alerts
    store.remove_rule(principal.tenant_id, name, actor=principal.actor)
    return Response(status_code=204)


@router.get("/v1/alerts", response_model=AlertsOut, responses=error_responses(403))
def list_alerts(
    request: Request,
    principal: Reader,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict:
    """What fires now, and the latest notifications (newest first) with their delivery."""
    store = request.app.state.services.alerts
    return {
        "firing": store.firing(principal.tenant_id),
        "history": store.history(principal.tenant_id, limit),
    }


@router.get(
    "/v1/monitoring/{endpoint}/concept",
    response_model=ConceptReport,
    responses=error_responses(403, 422),
    summary="Concept drift per model version: a detector replayed on its error stream",
)
def concept(
    endpoint: Name,
    request: Request,
    principal: Reader,
    detector: Literal["adwin", "ddm", "page_hinkley"] = "adwin",
    start: Timestamp | None = None,
    end: Timestamp | None = None,
    recent: Literal["hour", "day"] = "hour",
) -> dict:
    """``start`` defaults to 7 days before ``end`` (now); ``drifting`` is an alarm within
    ``recent`` of the version's newest labelled prediction."""
    check_name("endpoint", endpoint)
    watch = request.app.state.services.concept
    versions = watch.status(principal.tenant_id, endpoint, detector, start, end, RECENT[recent])
    return {"endpoint": endpoint, "detector": detector, "versions": versions}
