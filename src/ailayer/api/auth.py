"""Authentication for every route but health: the tenant and role come from the key."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Request

from ailayer.governance.principal import Principal
from ailayer.governance.roles import Permission


def presented_key(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header and header[:7].lower() == "bearer ":
        return header[7:].strip()
    return request.headers.get("x-api-key")


async def authenticate(request: Request) -> Principal:
    return await request.app.state.services.keys.authenticate_async(presented_key(request))


def requires(permission: Permission) -> Callable[[Request], Awaitable[Principal]]:
    """A dependency that authenticates and checks one permission (403 when missing)."""

    async def dependency(request: Request) -> Principal:
        principal = await authenticate(request)
        principal.require(permission)
        return principal

    dependency.__name__ = f"requires_{permission.name.lower()}"
    return dependency
