"""``POST /v1/events``: product events in, as CloudEvents, onto the bus.

The topic is the ``topic`` query parameter; the tenant is the API key's. Emitting needs
the ``predict`` permission for now (service keys hold it). Nothing is published unless
every event of the request is valid. Both content modes of the CloudEvents HTTP binding
are accepted: structured (one event or a batch as JSON) and binary (``ce-*`` headers,
the data as the body); see ``events/ingest.py``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated

from anyio import to_thread
from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel

from ailayer.api.auth import requires
from ailayer.api.errors import error_responses
from ailayer.core.names import BUS_NAME_REGEX, BUS_NAME_RULE, check_bus_name
from ailayer.events import Event
from ailayer.events.ingest import BATCH, MAX_BATCH, SINGLE, parse_request
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
    "description": (
        "Structured mode: one event (`application/cloudevents+json`), a batch "
        f"(`application/cloudevents-batch+json`, at most {MAX_BATCH}) or either "
        "(`application/json`). Binary mode: the attributes as `ce-*` headers and the data "
        "as the body, of any media type; `Content-Type` is the event's `datacontenttype`, "
        "JSON types are decoded as JSON data, other bodies kept as bytes (`data_base64`). "
        "A `tenant` in the request is ignored: it is the API key's."
    ),
    "content": {
        SINGLE: {"schema": _EVENT_SCHEMA},
        BATCH: {"schema": {"type": "array", "items": _EVENT_SCHEMA, "maxItems": MAX_BATCH}},
        "application/json": {
            "schema": {
                "description": "Structured: an event or an array of them. "
                "Binary mode (with ce-* headers): the event's JSON data."
            }
        },
        "*/*": {
            "schema": {
                "type": "string",
                "format": "binary",
                "description": "Binary mode (with ce-* headers): the event's data.",
            }
        },
    },
}


def _header(name: str, description: str, schema: dict | None = None) -> dict:
    return {
        "name": name,
        "in": "header",
        "required": False,
        "description": description,
        "schema": schema or {"type": "string"},
    }


_REQUIRED_IN_BINARY = "Binary mode: required (422 naming the header when missing)."
BINARY_HEADERS = [
    _header("ce-specversion", _REQUIRED_IN_BINARY, {"type": "string", "enum": ["1.0"]}),
    _header("ce-id", _REQUIRED_IN_BINARY),
    _header("ce-source", _REQUIRED_IN_BINARY),
    _header("ce-type", _REQUIRED_IN_BINARY),
    _header("ce-subject", "Binary mode: the subject."),
    _header("ce-time", "Binary mode: RFC 3339.", {"type": "string", "format": "date-time"}),
    _header("ce-dataschema", "Binary mode: the data's schema."),
    _header("ce-partitionkey", "Binary mode: the partitioning extension."),
    _header(
        "ce-traceparent",
        "Binary mode: W3C trace context; any other ce-<name> header is an extension too.",
    ),
]


class EventsAccepted(BaseModel):
    topic: str
    ids: list[str]


@router.post(
    "/v1/events",
    status_code=202,
    response_model=EventsAccepted,
    responses=error_responses(400, 403, 413, 422),
    openapi_extra={"requestBody": EVENTS_BODY, "parameters": BINARY_HEADERS},
    summary="Emit one CloudEvent (structured or binary mode) or a batch to a topic",
)
async def emit_events(
    request: Request,
    principal: Emitter,
    topic: Annotated[
        str,
        Query(
            pattern=BUS_NAME_REGEX,
            description=f"Topic to publish to, e.g. payments: {BUS_NAME_RULE}",
        ),
    ],
) -> EventsAccepted:
    """202 once every event is durable on the bus; a ``tenant`` in the request is ignored."""
    check_bus_name("topic", topic)
    body = await request.body()
    args = (body, request.headers.items(), principal.tenant_id)
    if len(body) > THREAD_ABOVE_BYTES:
        events = await to_thread.run_sync(parse_request, *args)
    else:
        events = parse_request(*args)
    trace = request.app.state.tracing.carrier()
    if trace:  # consumers (async inference) continue this request's trace
        events = [with_trace(event, trace) for event in events]
    services = request.app.state.services
    if events and services.quotas.on:  # max_events_per_day: counted before publishing
        await to_thread.run_sync(services.quotas.take_events, principal.tenant_id, len(events))
    if events:
        await services.bus.publish(topic, events)
    return EventsAccepted(topic=topic, ids=[event.id for event in events])


def with_trace(event: Event, trace: dict[str, str]) -> Event:
    """``event`` with the CloudEvents tracing extension naming ``trace``, unless the
    producer set its own ``traceparent``."""
    if "traceparent" in event.extensions:
        return event
    return replace(event, extensions={**event.extensions, **trace})
