"""Every control-plane request gets an id and its source address, for the audit trail.

Pure ASGI, installed behind the predict fast path, so predictions (which write no audit
entry) pay nothing. The id is the server's own (16 random bytes as hex: about 1.5 µs),
never a caller's header, so an entry's id cannot be chosen by the caller; it is sent back
as ``X-Request-ID`` so a caller can quote it. The source is the client address the ASGI
server reports: behind a proxy, the proxy's, unless the server is told to trust the
proxy's ``X-Forwarded-For`` (uvicorn's ``--forwarded-allow-ips``).
"""

from __future__ import annotations

import os

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ailayer.core.origin import Origin, reset_origin, set_origin

HEADER = b"x-request-id"


class OriginMiddleware:
    """Sets the request's ``Origin`` for everything that runs on its behalf."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        origin = Origin(os.urandom(16).hex(), source_of(scope))
        request_id = origin.request_id.encode("ascii")

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", ()), (HEADER, request_id)]
                message = {**message, "headers": headers}
            await send(message)

        token = set_origin(origin)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            reset_origin(token)


def source_of(scope: Scope) -> str | None:
    """The client's host as the ASGI server saw it (no port: it names a connection)."""
    client = scope.get("client")
    return str(client[0])[:100] if client else None
