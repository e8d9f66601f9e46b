"""The CloudEvents envelope: round trips, defaults, and errors that name the field."""

from __future__ import annotations

import dataclasses

import orjson
import pytest

from ailayer.core.errors import InvalidInput
from ailayer.events import Event, check_name, new_event
from ailayer.events.bus import check_publish

MINIMAL = {"specversion": "1.0", "id": "e1", "source": "/billing", "type": "payment.created"}


def test_new_event_fills_id_time_and_extensions() -> None:
    event = new_event(
        "payment.created", "/billing", {"amount": 12.5}, tenant="acme", partition_key="acct-1"
    )
    assert len(event.id) == 32 and event.time and event.time.endswith("Z")
    assert (event.specversion, event.datacontenttype) == ("1.0", "application/json")
    assert (event.tenant, event.partitionkey, event.subject) == ("acme", "acct-1", None)
    assert new_event("t", "/s", None, tenant="acme").id != event.id


def test_json_round_trip_is_exact() -> None:
    event = new_event("payment.created", "/billing", {"n": [1, 2]}, tenant="acme", subject="p1")
    body = orjson.loads(event.to_json())
    assert body["tenant"] == "acme" and body["data"] == {"n": [1, 2]}
    assert "partitionkey" not in body and "dataschema" not in body
    assert Event.from_json(event.to_json()) == event


def test_minimal_event_and_unknown_members_become_extensions() -> None:
    event = Event.from_dict({**MINIMAL, "traceparent": "00-abc", "retries": 3})
    assert event.datacontenttype is None and event.data is None and event.tenant is None
    assert event.extensions == {"traceparent": "00-abc", "retries": 3}
    assert Event.from_json(event.to_json()) == event


def test_binary_data_travels_as_base64() -> None:
    event = Event(id="e1", source="/s", type="blob", data=b"\x00\xff", datacontenttype="x/y")
    body = orjson.loads(event.to_json())
    assert body["data_base64"] == "AP8=" and "data" not in body
    assert Event.from_json(event.to_json()).data == b"\x00\xff"


def test_events_are_frozen() -> None:
    event = Event.from_dict(MINIMAL)
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.id = "other"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"specversion": "0.3"}, "specversion", 'specversion must be "1.0"'),
        ({"type": ""}, "type", "type must be a non-empty string"),
        ({"id": 7}, "id", "id must be a non-empty string"),
        ({"source": None}, "source", "source must be a non-empty string"),
        ({"subject": ""}, "subject", "subject must be a non-empty string"),
        ({"time": "yesterday"}, "time", "time must be an RFC 3339 timestamp"),
        ({"time": "2024-02-30T00:00:00Z"}, "time", "not a real date"),
        ({"time": "2024-05-01T12:00:00"}, "time", "RFC 3339"),
        ({"tenant": ""}, "tenant", "tenant must be a non-empty string"),
        ({"Trace": "x"}, "Trace", "must be lowercase alphanumeric"),
        ({"trace_id": "x"}, "trace_id", "must be lowercase alphanumeric"),
        ({"a" * 21: "x"}, "a" * 21, "at most 20 chars"),
        ({"meta": {"a": 1}}, "meta", "must be a string, integer or boolean"),
        ({"data": 1, "data_base64": "AA=="}, "data", "not both"),
        ({"data_base64": "%%"}, "data_base64", "base64"),
    ],
)
def test_invalid_attributes_name_the_field(change: dict, field: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message) as caught:
        Event.from_dict({**MINIMAL, **change})
    assert caught.value.field == field


@pytest.mark.parametrize("missing", ["id", "source", "type", "specversion"])
def test_required_attributes(missing: str) -> None:
    body = {k: v for k, v in MINIMAL.items() if k != missing}
    with pytest.raises(InvalidInput, match=f"{missing} is required"):
        Event.from_dict(body)


def test_rfc3339_offsets_and_fractions_are_accepted() -> None:
    for value in ("2024-05-01T12:00:00Z", "2024-05-01T12:00:00.123456+02:00"):
        assert Event.from_dict({**MINIMAL, "time": value}).time == value


def test_not_json_or_not_an_object_is_invalid_input() -> None:
    with pytest.raises(InvalidInput, match="must be JSON"):
        Event.from_json(b"{nope")
    with pytest.raises(InvalidInput, match="JSON object"):
        Event.from_json(b"[1, 2]")


@pytest.mark.parametrize("name", ["payments", "a", "fraud-scores_v2", "x" * 64])
def test_valid_names(name: str) -> None:
    assert check_name("topic", name) == name


@pytest.mark.parametrize("name", ["", "Payments", "pay.ments", "-lead", "a b", "x" * 65, "é", 3])
def test_invalid_names_say_the_rule(name: object) -> None:
    with pytest.raises(InvalidInput, match="topic must be 1-64 chars") as caught:
        check_name("topic", name)
    assert caught.value.field == "topic"


def test_bus_refuses_events_without_tenant() -> None:
    with pytest.raises(InvalidInput, match="has no tenant") as caught:
        check_publish("payments", [Event.from_dict(MINIMAL)])
    assert caught.value.field == "tenant"
