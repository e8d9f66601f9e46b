"""``Event.from_bus``: the consume path's decode gives exactly what ``from_json`` gives,
and anything that is not a plain, well-shaped event still goes through full validation."""

from __future__ import annotations

import dataclasses

import orjson
import pytest

from ailayer.core.errors import InvalidInput
from ailayer.events import Event, new_event
from ailayer.events.brokers.redis_streams import unpack_entries

SHAPES = [
    new_event("payment.created", "/billing", {"amount": 12.5}, tenant="acme"),
    new_event("a.b", "/x", None, tenant="t", subject="s", partition_key="k"),
    new_event("a.b", "/x", b"\x00raw bytes", tenant="t"),  # data_base64: full decode
    new_event("a.b", "/x", [1, "two", None], tenant="t"),
    Event(id="1", source="s", type="t", tenant="x", datacontenttype=None),
    Event(id="1", source="s", type="t", tenant="x", extensions={"dlqreplays": 2}),
    Event(id="1", source="s", type="t"),  # no tenant (spooled or foreign)
]


@pytest.mark.parametrize("event", SHAPES, ids=range(len(SHAPES)))
def test_from_bus_equals_from_json(event: Event) -> None:
    raw = event.to_json()
    decoded = Event.from_bus(raw)
    assert decoded == Event.from_json(raw) == event
    assert dataclasses.asdict(decoded) == dataclasses.asdict(event)
    assert decoded.to_json() == raw
    with pytest.raises(dataclasses.FrozenInstanceError):
        decoded.id = "other"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"specversion": "1.0", "id": 5, "source": "/s", "type": "t"}, "id"),
        ({"specversion": "1.0", "id": "1", "source": "/s", "type": ""}, "type"),
        ({"specversion": "0.3", "id": "1", "source": "/s", "type": "t"}, "specversion"),
        ({"specversion": "1.0", "id": "1", "source": "/s"}, "type"),
        ({"specversion": "1.0", "id": "1", "source": "/s", "type": "t", "BAD": 1}, "BAD"),
        ({"specversion": "1.0", "id": "1", "source": "/s", "type": "t", "tenant": 3}, "tenant"),
        ([1, 2], "event"),
    ],
)
def test_from_bus_validates_what_is_not_plain(body: object, field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        Event.from_bus(orjson.dumps(body))
    assert caught.value.field == field


def test_from_bus_rejects_non_json() -> None:
    with pytest.raises(InvalidInput, match="must be JSON"):
        Event.from_bus(b"{not json")


def test_unpack_entries_splits_by_sizes() -> None:
    bodies = [b'{"a":1}', b"", b"x,y\n,z"]  # separators inside bodies do not matter
    ids = b"1-0,1-1,2-0"
    sizes = b",".join(str(len(b)).encode() for b in bodies)
    assert unpack_entries(ids, sizes, b"".join(bodies)) == list(
        zip([b"1-0", b"1-1", b"2-0"], bodies, strict=True)
    )
