"""Monitoring routes: labels for logged predictions, and performance per window."""

from __future__ import annotations

from functools import partial
from typing import Annotated, Literal

from anyio import to_thread
from fastapi import APIRouter, Depends, Request

from ailayer.api.auth import requires
from ailayer.api.content import JsonBody
from ailayer.api.errors import body_responses, error_responses
from ailayer.api.params import Name, Timestamp
from ailayer.api.schemas import FEEDBACK_BODY, FeedbackResult, PerformanceReport
from ailayer.governance.principal import Principal
from ailayer.governance.roles import Permission
from ailayer.monitoring.log import parse_feedback

router = APIRouter(tags=["monitoring"])
Labeller = Annotated[Principal, Depends(requires(Permission.FEEDBACK_WRITE))]
Reader = Annotated[Principal, Depends(requires(Permission.MONITORING_READ))]


@router.post(
    "/v1/feedback",
    response_model=FeedbackResult,
    responses=body_responses(403, 422),
    openapi_extra={"requestBody": FEEDBACK_BODY},
    summary="Labels for logged predictions (one or a list); unknown ids are reported",
)
async def feedback(request: Request, principal: Labeller, _json: JsonBody) -> dict:
    """A label's type must match the model's predictions (422 naming ``label`` if not);
    retries are safe: the latest label received for a prediction id counts."""
    items = parse_feedback(await request.body())
    submit = partial(request.app.state.services.feedback.submit, principal.tenant_id, items)
    return await to_thread.run_sync(submit)


@router.get(
    "/v1/monitoring/{endpoint}/performance",
    response_model=PerformanceReport,
    responses=error_responses(403, 422),
    summary="Quality, latency and errors per model version and hour or day",
)
def performance(
    endpoint: Name,
    request: Request,
    principal: Reader,
    window: Literal["hour", "day"] = "hour",
    start: Timestamp | None = None,
    end: Timestamp | None = None,
) -> dict:
    """Windows are UTC-aligned; ``start`` defaults to a day (hour windows) or 30 days
    (day windows) before ``end``, which defaults to now."""
    monitor = request.app.state.services.performance
    return monitor.report(principal.tenant_id, endpoint, window, start, end)
