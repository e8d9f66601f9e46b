"""Authentication for every route but health: the tenant and role come from the key."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Request

from ailayer.core.tracing import TENANT_ID, Tracing
from ailayer.governance.principal import Principal
from ailayer.governance.roles import Permission


def presented_key(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header and header[:7].lower() == "bearer ":
        return header[7:].strip()
    return request.headers.get("x-api-key")


async def authenticate(request: Request) -> Principal:
    """The key's principal, in an ``auth`` span; the request's span gets the tenant id."""
    tracing: Tracing = request.app.state.tracing
    request_span = tracing.current_span()
    with tracing.span("auth"):
        key = presented_key(request)
        principal = await request.app.state.services.keys.authenticate_async(key)
    if request_span is not None:
        request_span.set_attribute(TENANT_ID, principal.tenant_id)
    return principal


def requires(permission: Permission) -> Callable[[Request], Awaitable[Principal]]:
    """A dependency that authenticates and checks one permission (403 when missing)."""

    async def dependency(request: Request) -> Principal:
        principal = await authenticate(request)
        principal.require(permission)
        return principal

    dependency.__name__ = f"requires_{permission.name.lower()}"
    return dependency
