"""One POST through a whole ASGI app in this process, with a body that must not be read:
how the early-refusal tests prove a refused request's body stays unread."""

from __future__ import annotations

import asyncio
from typing import Any


class UnreadBody:
    """An ASGI ``receive`` whose body must not be read."""

    def __init__(self) -> None:
        self.reads = 0

    async def __call__(self) -> dict[str, Any]:
        self.reads += 1
        raise AssertionError("the body of a refused request was read")


def call(app: Any, path: str, headers: list[tuple[bytes, bytes]]) -> tuple[int, dict, bytes, int]:
    """One POST through the whole app: status, headers, body, and how often the body was read."""
    sent: list[dict] = []
    receive = UnreadBody()

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"content-type", b"application/json"), (b"content-length", b"100"), *headers],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8000),
    }
    try:
        asyncio.run(app(scope, receive, send))
    except AssertionError:
        return -1, {}, b"", receive.reads
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    heads = {k.decode().lower(): v.decode() for k, v in start["headers"]}
    return start["status"], heads, body, receive.reads
