"""Cost routes: the key's tenant's usage priced by the price table, and an endpoint's
deployment advice from its traffic."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from ailayer.api.auth import requires
from ailayer.api.errors import error_responses
from ailayer.api.params import Name, Timestamp
from ailayer.cost.advisor import Assumptions
from ailayer.governance.principal import Principal
from ailayer.governance.roles import Permission

router = APIRouter(tags=["cost"])
Reader = Annotated[Principal, Depends(requires(Permission.MONITORING_READ))]


@router.get(
    "/v1/cost",
    responses=error_responses(403, 422),
    summary="Usage and cost per endpoint and model version, events and storage",
)
def cost(
    request: Request,
    principal: Reader,
    since: Timestamp | None = None,
    until: Timestamp | None = None,
) -> dict[str, Any]:
    """Predictions (from the prediction log), CPU seconds and model memory (measured by
    the serving processes), events in and out, and the bytes each store holds, priced
    by the settings' ``prices``; ``until`` defaults to now, ``since`` to 30 days before."""
    return request.app.state.services.cost.report(principal.tenant_id, since, until)


@router.get(
    "/v1/endpoints/{name}/cost-advice",
    responses=error_responses(403, 422),
    summary="Dedicated, autoscaled, spot or serverless: priced from a day of traffic",
)
def cost_advice(
    name: Name,
    request: Request,
    principal: Reader,
    start: Timestamp | None = None,
    end: Timestamp | None = None,
    p99_ms: Annotated[float, Query(gt=0, le=600_000, description="The p99 target")] = 250.0,
) -> dict[str, Any]:
    """The endpoint's requests per minute, burstiness and p99 over ``[start, end)``
    (default: the day before now), each way to run it with its monthly cost and
    projected p99, replicas right-sized from the measured CPU per prediction, and the
    cheapest way that meets ``p99_ms``."""
    service = request.app.state.services.cost
    return service.advise(principal.tenant_id, name, start, end, Assumptions(p99_ms))
