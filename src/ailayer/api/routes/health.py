"""Liveness and readiness. The only routes that need no key."""

from __future__ import annotations

from fastapi import APIRouter, Request
from sqlalchemy import text

from ailayer.api.errors import error_responses
from ailayer.api.schemas import Health

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health, response_model_exclude_none=True)
async def healthz() -> dict:
    return {"status": "ok"}


@router.get(
    "/readyz",
    response_model=Health,
    response_model_exclude_none=True,
    responses={503: error_responses()[503]},
)
def readyz(request: Request) -> dict:
    services = request.app.state.services
    with services.db.read() as conn:
        conn.execute(text("SELECT 1"))
    answer: dict = {"status": "ready"}
    if services.limiter.on:  # degraded: Redis is down and each replica limits on its own
        answer["rate_limits"] = services.limiter.status()
    return answer
