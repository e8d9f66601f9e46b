"""CloudEvents arriving over HTTP: one event or a batch, all or nothing.

Structured mode, by media type: ``application/cloudevents+json`` (one event object),
``application/cloudevents-batch+json`` (a JSON array of them), and ``application/json``
(either). Binary mode (``binary_mode.py``): any other media type, or ``application/json``,
with the attributes in ``ce-*`` headers and the data as the body; a CloudEvents media
type means structured mode even when ``ce-*`` headers come along, as the HTTP binding
says. Every event is validated by the envelope before any is accepted; the first invalid
one is named by its index (``3.type``) or its header (``ce-time``). A ``tenant`` in the
request is discarded and replaced by the caller's, which comes from the API key.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

from ailayer.core.errors import BadRequest, InvalidInput
from ailayer.events.binary_mode import binary_event, has_attribute_headers
from ailayer.events.envelope import Event

SINGLE = "application/cloudevents+json"
BATCH = "application/cloudevents-batch+json"
JSON = "application/json"
MEDIA_TYPES = (SINGLE, BATCH, JSON)
CLOUDEVENTS = "application/cloudevents"  # the prefix of every structured-mode media type
MAX_BATCH = 1000


def parse_request(body: bytes, headers: Iterable[tuple[str, str]], tenant: str) -> list[Event]:
    """The events of a request with ``headers`` (name, value pairs): binary mode when
    ``ce-*`` headers come with a non-CloudEvents media type, else ``parse_events``."""
    pairs = list(headers)
    content_type = next((v for k, v in pairs if k.lower() == "content-type"), None)
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if not media.startswith(CLOUDEVENTS) and has_attribute_headers(pairs):
        return [binary_event(body, pairs, content_type, tenant)]
    return parse_events(body, content_type, tenant)


def parse_events(body: bytes, content_type: str | None, tenant: str) -> list[Event]:
    """The events in ``body``, each owned by ``tenant``; raises naming the first bad field."""
    media = _media_type(content_type)
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"the body is not valid JSON: {exc}") from None
    if isinstance(payload, dict) and media != BATCH:
        return [_event(payload, tenant)]
    if isinstance(payload, list) and media != SINGLE:
        return _batch(payload, tenant)
    expected = {SINGLE: "one event object", BATCH: "a JSON array of events"}
    raise InvalidInput(
        f"{media} expects {expected.get(media, 'an event object or an array of them')}",
        field="events" if media == BATCH else "event",
    )


def _media_type(content_type: str | None) -> str:
    media = (content_type or JSON).split(";", 1)[0].strip().lower()
    if media not in MEDIA_TYPES:
        raise BadRequest(
            f"content-type must be one of {', '.join(MEDIA_TYPES)} (CloudEvents structured "
            f"mode), or the attributes must come as ce-* headers (binary mode); got {media!r}"
        )
    return media


def _batch(items: list[Any], tenant: str) -> list[Event]:
    if len(items) > MAX_BATCH:
        raise InvalidInput(
            f"a batch holds at most {MAX_BATCH} events; got {len(items)}", field="events"
        )
    events = []
    for index, item in enumerate(items):
        try:
            events.append(_event(item, tenant))
        except InvalidInput as exc:
            field = f"{index}.{exc.field}" if exc.field else str(index)
            raise InvalidInput(f"event {index}: {exc.message}", field=field) from None
    return events


def _event(item: Any, tenant: str) -> Event:
    if not isinstance(item, dict):
        raise InvalidInput("an event must be a JSON object", field="event")
    return Event.from_dict({**item, "tenant": tenant})
