"""The ``curl`` examples of docs/events.md, sent exactly as written through the real app.

They need a running server to run as shell commands, so the docs mark them not run;
this test reads each block, turns its command line into the same request (method, URL,
headers, body) and checks what the bus got.
"""

from __future__ import annotations

import asyncio
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from ailayer.events import Event
from tests.support.api import Api

DOC = Path(__file__).parents[3] / "docs" / "events.md"
BLOCK = re.compile(r"```sh\n(curl .*?)```", re.DOTALL)


@dataclass
class Request:
    method: str = "GET"
    url: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None


def curl_blocks() -> list[str]:
    return BLOCK.findall(DOC.read_text())


def parse_curl(command: str, api_key: str) -> Request:
    """The request ``curl`` would send for ``command`` (the options the docs use)."""
    words = shlex.split(command.replace("\\\n", " ").replace("$AILAYER_API_KEY", api_key))
    assert words[0] == "curl"
    request, rest = Request(), iter(words[1:])
    for word in rest:
        if word == "-X":
            request.method = next(rest)
        elif word == "-H":
            name, _, value = next(rest).partition(":")
            request.headers[name.strip().lower()] = value.strip()
        elif word in ("-d", "--data-binary"):
            request.body = next(rest).encode()
            request.method = "POST" if request.method == "GET" else request.method
        elif word.startswith("http"):
            request.url = word
        else:
            assert word == "-sS", f"the test does not know curl's {word}"
    if request.body is not None:  # what curl sends for -d without a Content-Type
        request.headers.setdefault("content-type", "application/x-www-form-urlencoded")
    return request


def send(api: Api, request: Request):  # type: ignore[no-untyped-def]
    url = urlsplit(request.url)
    assert (url.scheme, url.netloc) == ("http", "127.0.0.1:8000")
    path = f"{url.path}?{url.query}" if url.query else url.path
    return api.client.request(request.method, path, content=request.body, headers=request.headers)


def published(api: Api, topic: str) -> list[Event]:
    """Every event on ``topic`` (a new group of the embedded bus reads from the start)."""

    async def read() -> list[Event]:
        sub = await api.services.bus.subscribe(topic, "docs-check", "reader")  # type: ignore[attr-defined]
        events = [d.event for d in await sub.fetch(1000, timeout=0.05)]
        await sub.close()
        return events

    return asyncio.run(read())


def test_every_curl_example_is_accepted_and_published_as_documented(events_api: Api) -> None:
    blocks = curl_blocks()
    assert len(blocks) == 4
    key = events_api.keys["service"]
    for block in blocks:
        answer = send(events_api, parse_curl(block, key))
        assert answer.status_code == 202, (block, answer.text)
    payments = {e.id: e for e in published(events_api, "payments")}
    assert list(payments) == ["pay-2001", "pay-2002", "pay-2003", "pay-2004"]
    assert {e.tenant for e in payments.values()} == {events_api.tenant_id}
    assert payments["pay-2001"].data == {"account": "acct-42", "amount": 12.5}
    assert payments["pay-2003"].type == "payment.refunded"
    binary = payments["pay-2004"].to_dict()
    assert binary["datacontenttype"] == "application/json"
    assert binary["traceparent"].startswith("00-0af7651916cd43dd")
    assert (binary["subject"], binary["time"]) == ("acct-42", "2024-05-01T12:00:00Z")
    assert binary["data"] == {"account": "acct-42", "amount": 12.5}
    (export,) = published(events_api, "exports")
    assert export.to_dict()["datacontenttype"] == "text/csv"
    assert export.to_dict()["data_base64"] == "YWNjb3VudCxhbW91bnQKYWNjdC00MiwxMi41"
    assert export.data == b"account,amount\nacct-42,12.5"
