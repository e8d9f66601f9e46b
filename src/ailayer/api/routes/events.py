"""``POST /v1/events``: product events in, as CloudEvents, onto the bus.

The topic is the ``topic`` query parameter; the tenant is the API key's. Emitting needs
the ``predict`` permission for now (service keys hold it). Nothing is published unless
every event of the request is valid.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated

from anyio import to_thread
from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel

from ailayer.api.auth import requires
from ailayer.api.errors import error_responses
from ailayer.events import Event, check_name
from ailayer.events.ingest import BATCH, MAX_BATCH, SINGLE, parse_events
from ailayer.governance.principal import Principal
from ailayer.governance.roles import Permission

router = APIRouter(tags=["events"])
Emitter = Annotated[Principal, Depends(requires(Permission.PREDICT))]
THREAD_ABOVE_BYTES = 64 * 1024

_EVENT_SCHEMA = {
    "type": "object",
    "required": ["specversion", "id", "source", "type"],
    "properties": {
        "specversion": {"const": "1.0"},
        "id": {"type": "string"},
        "source": {"type": "string"},
        "type": {"type": "string"},
        "subject": {"type": "string"},
        "time": {"type": "string", "format": "date-time"},
        "datacontenttype": {"type": "string"},
        "data": {},
    },
}
EVENTS_BODY = {
    "required": True,
    "content": {
        SINGLE: {"schema": _EVENT_SCHEMA},
        BATCH: {"schema": {"type": "array", "items": _EVENT_SCHEMA, "maxItems": MAX_BATCH}},
        "application/json": {"schema": {"oneOf": [_EVENT_SCHEMA, {"type": "array"}]}},
    },
}


class EventsAccepted(BaseModel):
    topic: str
    ids: list[str]


@router.post(
    "/v1/events",
    status_code=202,
    response_model=EventsAccepted,
    responses=error_responses(400, 403, 413, 422),
    openapi_extra={"requestBody": EVENTS_BODY},
    summary="Emit one CloudEvent or a batch (structured mode) to a topic",
)
async def emit_events(
    request: Request,
    principal: Emitter,
    topic: Annotated[str, Query(description="Topic to publish to, e.g. payments")],
) -> EventsAccepted:
    """202 once every event is durable on the bus; the body's ``tenant`` is ignored."""
    check_name("topic", topic)
    body = await request.body()
    args = (body, request.headers.get("content-type"), principal.tenant_id)
    if len(body) > THREAD_ABOVE_BYTES:
        events = await to_thread.run_sync(parse_events, *args)
    else:
        events = parse_events(*args)
    trace = request.app.state.tracing.carrier()
    if trace:  # consumers (async inference) continue this request's trace
        events = [with_trace(event, trace) for event in events]
    if events:
        await request.app.state.services.bus.publish(topic, events)
    return EventsAccepted(topic=topic, ids=[event.id for event in events])


def with_trace(event: Event, trace: dict[str, str]) -> Event:
    """``event`` with the CloudEvents tracing extension naming ``trace``, unless the
    producer set its own ``traceparent``."""
    if "traceparent" in event.extensions:
        return event
    return replace(event, extensions={**event.extensions, **trace})
