"""CloudEvents over HTTP in binary content mode: attributes in ``ce-*`` headers, the data
as the body (the CloudEvents HTTP protocol binding 1.0, section 3.1).

Many producers (CloudEvents SDKs, Knative, webhook relays) send events this way, so that
the payload travels untouched. One request is one event:

- ``ce-specversion``, ``ce-id``, ``ce-source`` and ``ce-type`` are required; a missing one
  is ``InvalidInput`` naming the header.
- ``ce-subject``, ``ce-time``, ``ce-dataschema`` and ``ce-partitionkey`` set those
  attributes; any other ``ce-<name>`` is an extension with a string value (``ce-traceparent``
  for one). Values are percent-decoded, as the binding encodes them.
- ``ce-tenant`` is ignored: the tenant is the caller's, from the API key.
- ``Content-Type`` is the ``datacontenttype`` (``ce-datacontenttype`` is refused: the
  binding carries it only as ``Content-Type``). A JSON type (``application/json``,
  ``text/json``, ``*/*+json``) is decoded as the event's JSON data; any other body is kept
  as bytes, which the envelope carries as ``data_base64``. An empty body is no data.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import unquote

import orjson

from ailayer.core.errors import BadRequest, InvalidInput
from ailayer.events.envelope import Event

PREFIX = "ce-"
REQUIRED = ("specversion", "id", "source", "type")
OPTIONAL = ("subject", "time", "dataschema", "partitionkey")
IGNORED = frozenset({"tenant"})  # set from the API key, never from the request
REFUSED = frozenset({"datacontenttype", "data", "data_base64"})


def has_attribute_headers(headers: Iterable[tuple[str, str]]) -> bool:
    """Whether any ``ce-*`` header is present (the request means binary mode)."""
    return any(name.lower().startswith(PREFIX) for name, _ in headers)


def binary_event(
    body: bytes, headers: Iterable[tuple[str, str]], content_type: str | None, tenant: str
) -> Event:
    """The one event of a binary-mode request, owned by ``tenant``; raises naming the
    header (``ce-time``) or the body that breaks it."""
    attributes = _attributes(headers)
    content_type = (content_type or "").strip() or None
    for name in REQUIRED:
        if name not in attributes:
            raise InvalidInput(f"the {PREFIX}{name} header is required", field=PREFIX + name)
    named = {name: attributes.pop(name) for name in (*REQUIRED, *OPTIONAL) if name in attributes}
    try:
        return Event(
            **named,
            datacontenttype=content_type,
            data=_data(body, content_type),
            tenant=tenant,
            extensions=attributes,
        )
    except InvalidInput as exc:
        header = f"{PREFIX}{exc.field}"
        raise InvalidInput(f"{header} header: {exc.message}", field=header) from None


def _attributes(headers: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """``ce-*`` headers as attributes: names lowercased, values percent-decoded."""
    found: dict[str, Any] = {}
    for header, value in headers:
        header = header.lower()
        name = header.removeprefix(PREFIX)
        if name == header or name in IGNORED:
            continue
        if name in REFUSED:
            raise InvalidInput(
                f"{header} is not a binary-mode header: the data's type is Content-Type",
                field=header,
            )
        if name in found:
            raise InvalidInput(f"the {header} header is given more than once", field=header)
        found[name] = unquote(value)
    return found


def is_json(content_type: str | None) -> bool:
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media in ("application/json", "text/json") or media.endswith("+json")


def _data(body: bytes, content_type: str | None) -> Any:
    if not body:
        return None
    if not is_json(content_type):
        return bytes(body)
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"the body is not valid JSON ({content_type}): {exc}") from None
