"""A known caller over its rate is refused by the HTTP protocol itself, on its headers:
the same 429 the app sends, counted in the app's metrics, its body skipped so the
connection serves the next request; anything the protocol cannot judge goes to the app."""

from __future__ import annotations

import http.client
import re
import socket
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import orjson
import pytest

from ailayer.api.early import EarlyRefusalProtocol
from ailayer.bootstrap import Services, build
from tests.support.api import Api, make_api
from tests.support.services import live_server

BODY = orjson.dumps([{"amount": 1.0, "card_age_days": 2.0}] * 50)
BURST = 3
PROTOCOL = {"http": EarlyRefusalProtocol}


@pytest.fixture
def limited(make_settings) -> Iterator[Services]:  # type: ignore[no-untyped-def]
    limits = {"rate_per_second": 0.01, "burst": BURST}
    built = build(make_settings(limits=limits, auth_cache_seconds=60))
    yield built
    built.close()


@pytest.fixture
def served(limited: Services) -> Iterator[tuple[Api, str]]:
    api = make_api(limited, "small")
    with live_server(api.client.app, **PROTOCOL) as url:
        yield api, url


def connect(url: str) -> http.client.HTTPConnection:
    parts = urlsplit(url)
    return http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)


def post(conn: http.client.HTTPConnection, api: Api, path: str = "/v1/predict/fraud"):  # type: ignore[no-untyped-def]
    headers = {**api.headers("service"), "Content-Type": "application/json"}
    conn.request("POST", path, body=BODY, headers=headers)
    response = conn.getresponse()
    return response.status, dict(response.getheaders()), response.read()


def test_over_the_rate_the_protocol_refuses_as_the_app_would(
    served: tuple[Api, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    api, url = served
    conn = connect(url)
    statuses = [post(conn, api)[0] for _ in range(BURST)]  # admitted: no model, 404
    assert statuses == [404] * BURST  # each took one token, none twice
    through_app = api.client.post("/v1/predict/fraud", headers=api.headers("service"), content=BODY)
    assert through_app.status_code == 429

    async def no_lookup(raw_key: str | None) -> None:
        raise AssertionError("a refused request reached authentication")

    monkeypatch.setattr(api.services.keys, "authenticate_async", no_lookup)
    for _ in range(3):  # on one kept-alive connection: each body skipped whole
        status, headers, body = post(conn, api)
        assert status == 429
        assert headers["retry-after"] == through_app.headers["retry-after"]
        assert headers["content-type"] == "application/json"
        assert orjson.loads(body) == through_app.json()
    monkeypatch.undo()
    conn.request("GET", "/healthz")
    assert conn.getresponse().status == 200
    registry = api.client.app.state.metrics.registry  # /metrics: the tenant's rate is used up
    labels = {"method": "POST", "route": "/v1/predict/{endpoint}", "status": "429"}
    assert registry.get_sample_value("ailayer_http_requests_total", labels) == 4  # 1 by the app


def test_a_v2_infer_is_refused_in_its_protocol_shape(served: tuple[Api, str]) -> None:
    api, url = served
    conn = connect(url)
    for _ in range(BURST):
        post(conn, api, "/v2/models/fraud/infer")
    status, headers, body = post(conn, api, "/v2/models/fraud/versions/1/infer")
    assert status == 429 and int(headers["retry-after"]) >= 1
    assert "tenant 'small'" in orjson.loads(body)["error"]


def test_connection_close_is_honoured_after_a_refusal(served: tuple[Api, str]) -> None:
    api, url = served
    conn = connect(url)
    for _ in range(BURST):
        post(conn, api)
    received = exchange(url, raw_predict(api, BODY, b"Connection: close\r\n"))
    assert received.startswith(b"HTTP/1.1 429 ")
    assert b"connection: close" in received.lower()


@pytest.mark.parametrize("limits", [{"rate_per_second": 0.01, "burst": BURST}, {}])
def test_pipelined_requests_are_answered_as_without_it(
    make_settings, tmp_path, limits: dict
) -> None:  # type: ignore[no-untyped-def]
    """Requests sent in one go, before the first is answered: the protocol leaves the ones
    behind a request in flight to the app, so the answers are the plain protocol's."""
    answers = []
    for name, options in (("early", PROTOCOL), ("plain", {})):
        home = tmp_path / name
        built = build(make_settings(home=home, limits=limits, auth_cache_seconds=60))
        try:
            api = make_api(built, "small")
            with live_server(api.client.app, **options) as url:
                answers.append(pipelined(api, url))
        finally:
            built.close()
    assert answers[0] == answers[1]
    refused = 2 if limits else 0
    assert answers[0] == [404] * (BURST + 2 - refused) + [429] * refused + [200]


def pipelined(api: Api, url: str) -> list[int]:
    one = raw_predict(api, b'{"amount": 1.0, "card_age_days": 2.0}')
    health = b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    received = exchange(url, one * (BURST + 2) + health)
    # each answer's status line follows the last one's body directly
    return [int(status) for status in re.findall(rb"HTTP/1\.1 (\d{3}) ", received)]


def raw_predict(api: Api, body: bytes, extra: bytes = b"") -> bytes:
    """A predict request as it goes on the wire, with the service key."""
    return (
        b"POST /v1/predict/fraud HTTP/1.1\r\nHost: x\r\n"
        + extra
        + f"Authorization: Bearer {api.keys['service']}\r\n".encode()
        + f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        + body
    )


def exchange(url: str, sent: bytes) -> bytes:
    """Send ``sent`` on one connection and read until the server closes it."""
    parts = urlsplit(url)
    received = b""
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(sent)
        while chunk := sock.recv(65536):  # the server closes: recv returns b""
            received += chunk
    return received


def test_an_unknown_credential_and_other_routes_go_to_the_app(served: tuple[Api, str]) -> None:
    api, url = served
    conn = connect(url)
    conn.request("POST", "/v1/predict/fraud", body=BODY, headers={"Authorization": "Bearer nope"})
    response = conn.getresponse()
    response.read()
    assert response.status == 401
    for _ in range(BURST):
        post(conn, api)
    conn.request("GET", "/v1/models", headers=api.headers("service"))
    response = conn.getresponse()
    response.read()
    assert response.status == 429  # the app's limiter: the protocol judges predicts only


def test_a_known_callers_admitted_requests_take_their_tenants_turns(
    served: tuple[Api, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    api, url = served
    turns = api.client.app.state.early_refusal.turns
    arrivals: list[str] = []
    counted = turns.arrived
    monkeypatch.setattr(turns, "arrived", lambda tenant: (arrivals.append(tenant), counted(tenant)))
    conn = connect(url)
    statuses = [post(conn, api)[0] for _ in range(BURST + 2)]
    assert statuses == [404] * BURST + [429] * 2
    first_judged_by_the_app = 1  # its credential was not known yet
    assert arrivals == [api.tenant_id] * (BURST - first_judged_by_the_app)
    assert turns.waiting == {} and turns.total == 0  # each started: nothing left counted
    turns.yielded = 2
    registry = api.client.app.state.metrics.registry
    assert registry.get_sample_value("ailayer_fair_turns_yielded_total") == 2


def test_a_connection_closed_after_a_refusal_closes_cleanly(
    served: tuple[Api, str], caplog: pytest.LogCaptureFixture
) -> None:
    api, url = served
    conn = connect(url)
    for _ in range(BURST):
        post(conn, api)
    assert post(conn, api)[0] == 429  # answered by the protocol: its cycle is ``Answered``
    conn.close()
    other = connect(url)
    other.request("GET", "/healthz")  # the server has run the close by the time this answers
    assert other.getresponse().status == 200
    time.sleep(0.1)
    assert "Exception in callback" not in caplog.text


def test_serve_takes_this_protocol_while_uvicorn_has_the_steps_it_extends(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A uvicorn whose httptools protocol lost a step this one extends gets uvicorn's own
    protocol and a warning naming the step, not a protocol that half works."""
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    from ailayer.api.early import uvicorn_protocol

    assert uvicorn_protocol() == "ailayer.api.early:EarlyRefusalProtocol"
    monkeypatch.delattr(HttpToolsProtocol, "_start_asgi_task")
    assert uvicorn_protocol() == "auto"
    assert "_start_asgi_task" in caplog.text
