"""Request body limits, enforced before the body is read into memory.

A declared ``Content-Length`` over the limit is refused at once; a chunked body is
counted as it streams and refused as soon as it passes the limit.
"""

from __future__ import annotations

import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ailayer.api.errors import error_response
from ailayer.core.errors import PayloadTooLarge

UPLOAD_PATH = re.compile(r"^/v1/models/[^/]+/versions/?$")


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, max_body_bytes: int, max_upload_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_upload_bytes = max_upload_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        limit = self.max_upload_bytes if UPLOAD_PATH.match(scope["path"]) else self.max_body_bytes
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _too_large(limit, scope["path"])(scope, receive, send)
            return
        seen = 0

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise PayloadTooLarge(f"request body exceeds the {limit}-byte limit")
            return message

        await self.app(scope, limited_receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _too_large(limit: int, path: str):  # type: ignore[no-untyped-def]
    too_large = PayloadTooLarge(f"request body exceeds the {limit}-byte limit")
    return error_response(too_large, path=path)
