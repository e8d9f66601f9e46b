"""``POST /v1/events`` on the real app with the embedded bus: all or nothing, tenant from key."""

from __future__ import annotations

import asyncio

import orjson
import pytest
from fastapi.testclient import TestClient
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from ailayer.api import create_app
from ailayer.core.tracing import Tracing, make_provider
from ailayer.events import Event
from ailayer.events.ingest import MAX_BATCH
from tests.support.api import Api
from tests.support.events_api import VALID

SINGLE = {"content-type": "application/cloudevents+json"}
BATCH = {"content-type": "application/cloudevents-batch+json"}


def published(api: Api) -> list[Event]:
    async def read() -> list[Event]:
        sub = await api.services.bus.subscribe("payments", "workers", "reader")  # type: ignore[attr-defined]
        return [d.event for d in await sub.fetch(1000, timeout=0.05)]

    return asyncio.run(read())


def post(api: Api, body: object, headers: dict | None = None, role: str = "service"):  # type: ignore[no-untyped-def]
    return api.client.post(
        "/v1/events?topic=payments",
        content=orjson.dumps(body),
        headers={**api.headers(role), **(headers or SINGLE)},
    )


def test_one_event_is_accepted_with_the_keys_tenant(events_api: Api) -> None:
    answer = post(events_api, {**VALID, "tenant": "someone-else", "data": {"amount": 3}})
    assert answer.status_code == 202, answer.text
    assert answer.json() == {"topic": "payments", "ids": ["e1"]}
    (event,) = published(events_api)
    assert (event.id, event.data, event.tenant) == ("e1", {"amount": 3}, events_api.tenant_id)


def test_a_batch_is_accepted_whole(events_api: Api) -> None:
    batch = [{**VALID, "id": f"e{i}"} for i in range(3)]
    answer = post(events_api, batch, BATCH)
    assert answer.status_code == 202 and answer.json()["ids"] == ["e0", "e1", "e2"]
    assert [e.id for e in published(events_api)] == ["e0", "e1", "e2"]


def test_plain_json_takes_an_object_or_an_array(events_api: Api) -> None:
    plain = {"content-type": "application/json"}
    assert post(events_api, VALID, plain).status_code == 202
    assert post(events_api, [{**VALID, "id": "e2"}], plain).status_code == 202
    assert len(published(events_api)) == 2


@pytest.mark.parametrize(
    ("body", "headers", "field", "message"),
    [
        ({**VALID, "specversion": "0.3"}, SINGLE, "specversion", 'must be "1.0"'),
        ({k: v for k, v in VALID.items() if k != "type"}, SINGLE, "type", "type is required"),
        ({**VALID, "time": "yesterday"}, SINGLE, "time", "RFC 3339"),
        ({**VALID, "Bad-Ext": 1}, SINGLE, "Bad-Ext", "lowercase"),
        ([VALID, {**VALID, "id": ""}], BATCH, "1.id", "event 1: id must be a non-empty"),
        ([VALID, VALID, {**VALID, "source": 5}], BATCH, "2.source", "event 2"),
        ([VALID, "not an object"], BATCH, "1.event", "must be a JSON object"),
        ([VALID], SINGLE, "event", "expects one event object"),
        (VALID, BATCH, "events", "expects a JSON array"),
    ],
)
def test_malformed_events_are_422_naming_the_field_and_nothing_is_published(
    events_api: Api, body: object, headers: dict, field: str, message: str
) -> None:
    answer = post(events_api, body, headers)
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["field"] == field and message in error["message"]
    assert published(events_api) == []


def test_a_bad_topic_or_none_is_422(events_api: Api) -> None:
    headers = {**events_api.headers("service"), **SINGLE}
    for url, field in (("/v1/events?topic=Bad.Topic", "topic"), ("/v1/events", "topic")):
        answer = events_api.client.post(url, content=orjson.dumps(VALID), headers=headers)
        assert answer.status_code == 422 and answer.json()["error"]["field"] == field


def test_not_json_or_the_wrong_media_type_is_400(events_api: Api) -> None:
    headers = {**events_api.headers("service"), **SINGLE}
    answer = events_api.client.post("/v1/events?topic=payments", content=b"{", headers=headers)
    assert answer.status_code == 400 and "not valid JSON" in answer.text
    form = {**headers, "content-type": "application/x-www-form-urlencoded"}
    answer = events_api.client.post("/v1/events?topic=payments", content=b"a=1", headers=form)
    assert answer.status_code == 400 and "structured mode" in answer.text
    assert published(events_api) == []


def test_a_batch_over_the_cap_is_413(events_api: Api) -> None:
    batch = [{**VALID, "id": f"e{i}"} for i in range(MAX_BATCH + 1)]
    answer = post(events_api, batch, BATCH)
    assert answer.status_code == 422 and str(MAX_BATCH) in answer.json()["error"]["message"]
    assert published(events_api) == []


def test_emitting_needs_the_predict_permission(events_api: Api) -> None:
    assert post(events_api, VALID, role="viewer").status_code == 403
    assert post(events_api, VALID, role="developer").status_code == 202
    answer = events_api.client.post("/v1/events?topic=payments", json=VALID)
    assert answer.status_code == 401


def test_events_carry_the_requests_trace_unless_they_have_their_own(
    events_api: Api,
) -> None:
    spans = InMemorySpanExporter()
    tracing = Tracing(make_provider(spans, batch=False))
    events_api.client.close()
    events_api.client = TestClient(create_app(events_api.services, tracing=tracing))
    own = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    batch = [VALID, {**VALID, "id": "e2", "traceparent": own}]
    answer = post(events_api, batch, BATCH)
    assert answer.status_code == 202, answer.text
    request_trace = answer.headers["traceparent"].split("-")[1]
    first, second = published(events_api)
    assert first.extensions["traceparent"].split("-")[1] == request_trace
    assert second.extensions["traceparent"] == own
    tracing.shutdown()


BINARY = {
    "ce-specversion": "1.0",
    "ce-id": "pay-2002",
    "ce-source": "/billing",
    "ce-type": "payment.created",
}


def post_binary(api: Api, body: bytes, headers: dict, role: str = "service"):  # type: ignore[no-untyped-def]
    return api.client.post(
        "/v1/events?topic=payments", content=body, headers={**api.headers(role), **headers}
    )


def test_binary_mode_takes_attributes_from_headers_and_json_data_from_the_body(
    events_api: Api,
) -> None:
    trace = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    headers = {
        **BINARY,
        "ce-subject": "acct-42",
        "ce-time": "2024-05-01T12:00:00Z",
        "ce-partitionkey": "acct-42",
        "ce-traceparent": trace,
        "ce-tenant": "someone-else",
        "content-type": "application/json; charset=utf-8",
    }
    answer = post_binary(events_api, b'{"amount": 12.5}', headers)
    assert answer.status_code == 202, answer.text
    assert answer.json() == {"topic": "payments", "ids": ["pay-2002"]}
    (event,) = published(events_api)
    assert (event.id, event.source, event.type, event.subject, event.time) == (
        "pay-2002", "/billing", "payment.created", "acct-42", "2024-05-01T12:00:00Z",
    )  # fmt: skip
    assert event.data == {"amount": 12.5}
    assert event.datacontenttype == "application/json; charset=utf-8"
    assert (event.partitionkey, event.tenant) == ("acct-42", events_api.tenant_id)
    assert event.extensions == {"traceparent": trace}


@pytest.mark.parametrize(
    ("content_type", "body", "data"),
    [
        ("text/csv", b"acct-42,12.5\n", b"acct-42,12.5\n"),
        ("application/octet-stream", bytes(range(256)), bytes(range(256))),
        ("application/vnd.acme.payment+json", b'[1, "two"]', [1, "two"]),
        ("application/json", b"", None),
    ],
)
def test_binary_mode_keeps_other_media_types_as_bytes(
    events_api: Api, content_type: str, body: bytes, data: object
) -> None:
    answer = post_binary(events_api, body, {**BINARY, "content-type": content_type})
    assert answer.status_code == 202, answer.text
    (event,) = published(events_api)
    assert (event.data, event.datacontenttype) == (data, content_type)
    if isinstance(data, bytes):
        assert event.to_dict()["data_base64"]  # CloudEvents JSON format for binary data


def test_binary_mode_values_are_percent_decoded(events_api: Api) -> None:
    headers = {**BINARY, "ce-subject": "caf%C3%A9%20%2242%22", "content-type": "text/plain"}
    assert post_binary(events_api, b"x", headers).status_code == 202
    (event,) = published(events_api)
    assert event.subject == 'café "42"'


@pytest.mark.parametrize("missing", list(BINARY))
def test_binary_mode_without_a_required_header_is_422_naming_it(
    events_api: Api, missing: str
) -> None:
    headers = {k: v for k, v in BINARY.items() if k != missing}
    answer = post_binary(events_api, b"{}", {**headers, "content-type": "application/json"})
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["field"] == missing and missing in error["message"]
    assert published(events_api) == []


@pytest.mark.parametrize(
    ("headers", "field", "message"),
    [
        ({"ce-specversion": "0.3"}, "ce-specversion", 'must be "1.0"'),
        ({"ce-time": "yesterday"}, "ce-time", "RFC 3339"),
        ({"ce-id": ""}, "ce-id", "non-empty"),
        ({"ce-bad_ext": "1"}, "ce-bad_ext", "lowercase alphanumeric"),
        ({"ce-datacontenttype": "text/csv"}, "ce-datacontenttype", "Content-Type"),
    ],
)
def test_binary_mode_with_a_bad_header_is_422_naming_it(
    events_api: Api, headers: dict, field: str, message: str
) -> None:
    answer = post_binary(events_api, b"{}", {**BINARY, **headers, "content-type": "text/plain"})
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["field"] == field and message in error["message"]
    assert published(events_api) == []


def test_binary_mode_json_that_does_not_parse_is_400(events_api: Api) -> None:
    answer = post_binary(events_api, b"{", {**BINARY, "content-type": "application/json"})
    assert answer.status_code == 400 and "not valid JSON" in answer.text
    assert published(events_api) == []


def test_a_cloudevents_media_type_means_structured_mode_despite_ce_headers(
    events_api: Api,
) -> None:
    answer = post(events_api, VALID, {**BINARY, **SINGLE})
    assert answer.status_code == 202 and answer.json()["ids"] == ["e1"]


def test_binary_mode_needs_the_predict_permission_too(events_api: Api) -> None:
    headers = {**BINARY, "content-type": "application/json"}
    assert post_binary(events_api, b"{}", headers, role="viewer").status_code == 403
    assert published(events_api) == []


def test_openapi_names_both_modes_and_every_error(events_api: Api) -> None:
    spec = events_api.client.get("/openapi.json").json()
    operation = spec["paths"]["/v1/events"]["post"]
    assert set(operation["requestBody"]["content"]) == {
        "application/cloudevents+json",
        "application/cloudevents-batch+json",
        "application/json",
        "*/*",
    }
    headers = {p["name"] for p in operation["parameters"] if p["in"] == "header"}
    assert set(BINARY) <= headers and "ce-traceparent" in headers
    assert {p["name"] for p in operation["parameters"] if p["in"] == "query"} == {"topic"}
    errors = {code for code in operation["responses"] if code.startswith("4")}
    assert errors == {"400", "401", "403", "413", "422", "429"}
    assert "503" in operation["responses"]
