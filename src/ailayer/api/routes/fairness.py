"""Fairness route: group fairness of an endpoint's logged decisions, per model version."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from ailayer.api.auth import requires
from ailayer.api.errors import error_responses
from ailayer.api.params import Name, Timestamp
from ailayer.core.names import check_name
from ailayer.governance.principal import Principal
from ailayer.governance.roles import Permission

router = APIRouter(tags=["monitoring"])
Reader = Annotated[Principal, Depends(requires(Permission.MONITORING_READ))]


@router.get(
    "/v1/monitoring/{endpoint}/fairness",
    responses=error_responses(403, 422),
    summary="Per-group selection rate, TPR, FPR, precision and disparities per model version",
)
def fairness(
    endpoint: Name,
    request: Request,
    principal: Reader,
    attribute: Annotated[str, Query(description="A logged input, e.g. country")],
    start: Timestamp | None = None,
    end: Timestamp | None = None,
) -> dict:
    """``end`` defaults to now and ``start`` to 7 days before. Every prediction counts for
    selection rates; TPR, FPR and precision use the labelled ones. An empty window is
    reported (``versions: []`` and a ``reason``); an attribute the versions in the window
    do not log is 422 naming ``attribute``."""
    check_name("endpoint", endpoint)
    service = request.app.state.services.fairness
    return service.report(principal.tenant_id, endpoint, attribute, start, end)
