"""The event envelope: CloudEvents 1.0 in structured JSON mode, plus two extensions.

An ``Event`` is valid the moment it exists: construction checks every attribute and raises
``InvalidInput`` naming the field and what was expected, so nothing downstream re-checks.

Extensions used by ailayer (CloudEvents extension names are lowercase alphanumeric):
- ``tenant``: the owning tenant. The bus refuses events without one; the HTTP layer sets it
  from the API key and never trusts a body's value.
- ``partitionkey``: the CloudEvents "partitioning" extension; events with the same key are
  delivered in order where the broker offers it (see ``docs/events.md``).

Other extension attributes ride along untouched in ``extensions``.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from ailayer.core.clock import utcnow
from ailayer.core.errors import InvalidInput
from ailayer.core.ids import new_id

SPECVERSION = "1.0"
JSON = "application/json"
CORE_ATTRIBUTES = frozenset(
    {"id", "source", "type", "specversion", "subject", "time", "datacontenttype", "dataschema"}
)
KNOWN_EXTENSIONS = frozenset({"tenant", "partitionkey"})
_ATTRIBUTE_ORDER = (
    "specversion",
    "id",
    "source",
    "type",
    "subject",
    "time",
    "datacontenttype",
    "dataschema",
    "tenant",
    "partitionkey",
)
_EXTENSION_NAME = re.compile(r"[a-z0-9]{1,20}")
_RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)", re.IGNORECASE)
_EXTENSION_TYPES = (str, int, bool)
_PLAIN_MEMBERS = frozenset({*CORE_ATTRIBUTES, *KNOWN_EXTENSIONS, "data"})
# every field as ``from_dict`` leaves it when the member is absent (datacontenttype too)
_ABSENT = {name: None for name in (*CORE_ATTRIBUTES, *KNOWN_EXTENSIONS, "data")}


@dataclass(frozen=True)
class Event:
    """One CloudEvent. ``data`` is any JSON value, or ``bytes`` (sent as ``data_base64``)."""

    id: str
    source: str
    type: str
    specversion: str = SPECVERSION
    subject: str | None = None
    time: str | None = None
    datacontenttype: str | None = JSON
    dataschema: str | None = None
    data: Any = None
    tenant: str | None = None
    partitionkey: str | None = None
    extensions: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        validate(self)
        object.__setattr__(self, "extensions", dict(self.extensions))

    def to_dict(self) -> dict[str, Any]:
        """The structured-mode JSON object; absent optional attributes are left out."""
        attributes = {name: getattr(self, name) for name in _ATTRIBUTE_ORDER}
        attributes.update(self.extensions)
        body = {name: value for name, value in attributes.items() if value is not None}
        if isinstance(self.data, bytes):
            body["data_base64"] = base64.b64encode(self.data).decode("ascii")
        elif self.data is not None:
            body["data"] = self.data
        return body

    def to_json(self) -> bytes:
        return orjson.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, body: Mapping[str, Any]) -> Event:
        """Build from a structured-mode object; unknown members become extensions."""
        if not isinstance(body, Mapping):
            raise InvalidInput("an event must be a JSON object", field="event")
        if "data" in body and "data_base64" in body:
            raise InvalidInput("an event has either data or data_base64, not both", field="data")
        named = {k: v for k, v in body.items() if k in CORE_ATTRIBUTES | KNOWN_EXTENSIONS}
        extras = {
            k: v for k, v in body.items() if k not in named and k not in ("data", "data_base64")
        }
        for attribute in ("id", "source", "type", "specversion"):
            if attribute not in named:
                raise InvalidInput(f"{attribute} is required", field=attribute)
        named.setdefault("datacontenttype", None)
        return cls(**named, data=_decode_data(body), extensions=extras)

    @classmethod
    def from_json(cls, raw: bytes | str) -> Event:
        return cls.from_dict(_decode(raw))

    @classmethod
    def from_bus(cls, raw: bytes | str) -> Event:
        """Decode an event read back from the bus, where ``publish`` only ever wrote valid
        ``Event`` objects: validation stays at ingress, so this only checks the shape
        (required members are strings, no unknown members) and skips the per-attribute
        rules — about a third of ``from_json``'s cost on the consume path. Anything else
        (extensions, ``data_base64``, or a body some other writer put there) goes
        through ``from_json`` and its full validation."""
        return cls.from_bus_body(_decode(raw))

    @classmethod
    def batch_from_bus(cls, raws: Sequence[bytes]) -> list[Event]:
        """``from_bus`` for a fetched batch: one ``orjson.loads`` of the bodies joined as
        a JSON array instead of one call per body (see ``_load_all``)."""
        return [cls.from_bus_body(body) for body in _load_all(raws)]

    @classmethod
    def batch_bodies(cls, raws: Sequence[bytes]) -> list[dict[str, Any]]:
        """For a ``Batch``: each body as its structured-mode JSON object, decoded as
        ``batch_from_bus`` decodes it but without building an ``Event`` for a plain body
        (the common case). A body that is not plain is built and so validated as
        ``from_bus`` would (raising ``InvalidInput`` alike), then kept as decoded."""
        bodies = _load_all(raws)
        for body in bodies:
            if not _plain(body):
                cls.from_dict(body)
        return bodies

    @classmethod
    def from_bus_body(cls, body: Any) -> Event:
        """``from_bus`` for a body already decoded (a broker that decodes a whole fetched
        batch with one ``orjson.loads``)."""
        if _plain(body):
            event = object.__new__(cls)
            fields = event.__dict__
            fields.update(_ABSENT)
            fields.update(body)
            fields["extensions"] = {}
            return event
        return cls.from_dict(body)


def _plain(body: Any) -> bool:
    """Whether a decoded body is one that ``publish`` writes for an ``Event`` with no
    extensions and JSON data: known members only, the required ones non-empty strings."""
    if type(body) is dict and body.keys() <= _PLAIN_MEMBERS:
        event_id, source, kind = body.get("id"), body.get("source"), body.get("type")
        return (
            type(event_id) is str
            and type(source) is str
            and type(kind) is str
            and bool(event_id and source and kind)
            and body.get("specversion") == SPECVERSION
            and type(body.get("tenant", "")) is str
        )
    return False


def _load_all(raws: Sequence[bytes]) -> list[Any]:
    """The bodies decoded with one ``orjson.loads`` of them joined as a JSON array. If
    the array does not decode to one value per body (some body is not JSON), each body
    is decoded on its own, so that the error names that body as ``from_bus`` would."""
    try:
        bodies = orjson.loads(b"[" + b",".join(raws) + b"]")
    except orjson.JSONDecodeError:
        bodies = None
    if type(bodies) is not list or len(bodies) != len(raws):
        bodies = [_decode(raw) for raw in raws]
    return bodies


def _decode(raw: bytes | str) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"an event must be JSON: {exc}", field="event") from None


def _decode_data(body: Mapping[str, Any]) -> Any:
    if "data_base64" not in body:
        return body.get("data")
    encoded = body["data_base64"]
    try:
        return base64.b64decode(encoded, validate=True)
    except (TypeError, ValueError):
        raise InvalidInput("data_base64 must be base64 text", field="data_base64") from None


def validate(event: Event) -> None:
    """Raise ``InvalidInput`` naming the first attribute that breaks CloudEvents 1.0."""
    if event.specversion != SPECVERSION:
        raise InvalidInput(f'specversion must be "{SPECVERSION}"', field="specversion")
    for name in ("id", "source", "type"):
        _require_text(name, getattr(event, name))
    for name in ("subject", "datacontenttype", "dataschema", "tenant", "partitionkey"):
        value = getattr(event, name)
        if value is not None:
            _require_text(name, value)
    if event.time is not None:
        _require_timestamp(event.time)
    _validate_extensions(event.extensions)


def _require_text(name: str, value: Any) -> None:
    if not isinstance(value, str) or not value:
        raise InvalidInput(f"{name} must be a non-empty string", field=name)


def _require_timestamp(value: Any) -> None:
    if not isinstance(value, str) or not _RFC3339.fullmatch(value):
        raise InvalidInput(
            "time must be an RFC 3339 timestamp such as 2024-05-01T12:00:00Z", field="time"
        )
    try:
        datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"time {value!r} is not a real date and time", field="time") from None


def _validate_extensions(extensions: Mapping[str, Any]) -> None:
    for name, value in extensions.items():
        if not isinstance(name, str) or not _EXTENSION_NAME.fullmatch(name):
            raise InvalidInput(
                f"extension name {name!r} must be lowercase alphanumeric, at most 20 chars",
                field=str(name),
            )
        if name in CORE_ATTRIBUTES | KNOWN_EXTENSIONS:
            raise InvalidInput(f"{name} is an attribute, not an extension", field=name)
        if value is not None and not isinstance(value, _EXTENSION_TYPES):
            raise InvalidInput(f"extension {name} must be a string, integer or boolean", field=name)


def now_rfc3339() -> str:
    """The current UTC time as RFC 3339 with microseconds and a ``Z``."""
    return utcnow().isoformat(timespec="microseconds").replace("+00:00", "Z")


def new_event(
    type: str,
    source: str,
    data: Any,
    *,
    tenant: str,
    subject: str | None = None,
    partition_key: str | None = None,
) -> Event:
    """A fresh event with a time-ordered id and the current time."""
    return Event(
        id=new_id(),
        source=source,
        type=type,
        subject=subject,
        time=now_rfc3339(),
        data=data,
        tenant=tenant,
        partitionkey=partition_key,
    )
