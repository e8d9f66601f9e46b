"""``Event.from_bus``: the consume path's decode gives exactly what ``from_json`` gives,
and anything that is not a plain, well-shaped event still goes through full validation."""

from __future__ import annotations

import dataclasses

import orjson
import pytest

from ailayer.core.errors import InvalidInput
from ailayer.events import Event, new_event
from ailayer.events.brokers.nats_jetstream import delivered
from ailayer.events.brokers.redis_streams import entry_bodies

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


def test_entry_bodies_reads_a_raw_resp3_or_resp2_xreadgroup_reply() -> None:
    entries = [[b"1-0", [b"event", b'{"a":1}']], [b"1-1", [b"other", b"x", b"event", b"2"]]]
    expected = ([b"1-0", b"1-1"], [b'{"a":1}', b"2"])
    assert entry_bodies({b"ailayer:{t}": entries}) == expected  # RESP3: a map
    assert entry_bodies([[b"ailayer:{t}", entries]]) == expected  # RESP2: a list
    assert entry_bodies(None) == entry_bodies({}) == ([], [])  # BLOCK timed out


def test_entry_bodies_skips_entries_trimmed_while_pending() -> None:
    reply = {b"k": [[b"1-0", None], [b"1-1", [b"event", b"{}"]]]}
    assert entry_bodies(reply) == ([b"1-1"], [b"{}"])


def test_batch_from_bus_equals_from_bus_on_each_body() -> None:
    sent = [new_event("payment.created", "/b", {"n": i}, tenant="acme") for i in range(3)]
    raws = [e.to_json() for e in sent]
    assert Event.batch_from_bus(raws) == [Event.from_bus(raw) for raw in raws] == sent


def test_batch_from_bus_names_the_body_that_is_not_json() -> None:
    good = new_event("payment.created", "/b", {"n": 1}, tenant="acme").to_json()
    with pytest.raises(InvalidInput, match="must be JSON"):
        Event.batch_from_bus([good, b"{not json"])
    with pytest.raises(InvalidInput, match="must be JSON"):
        Event.batch_from_bus([good, b"1,2"])  # two values in the array: decoded alone


class _Reply:
    def __init__(self, reply: str) -> None:
        self.reply = reply


def test_nats_delivery_count_is_read_from_both_ack_subject_forms() -> None:
    assert delivered(_Reply("$JS.ACK.ailayer_t.g.3.10.9.1700000000000000000.0")) == 3  # type: ignore[arg-type]
    v2 = "$JS.ACK.hub.ACCHASH.ailayer_t.g.4.10.9.1700000000000000000.0.tok"
    assert delivered(_Reply(v2)) == 4  # type: ignore[arg-type]
