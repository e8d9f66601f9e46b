"""Authentication for every route but health: the tenant and role come from the key (or
an SSO token), and a key narrowed to endpoints may address only those."""

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


async def authenticate(request: Request, *, limit: bool = True) -> Principal:
    """The key's principal, in an ``auth`` span; the request's span gets the tenant id.
    Over the tenant's or the key's request rate: 429 (``RateLimited``) — unless ``limit``
    is False, for a caller that took the request's tokens already (the predict fast
    path)."""
    tracing: Tracing = request.app.state.tracing
    request_span = tracing.current_span()
    services = request.app.state.services
    with tracing.span("auth"):
        key = presented_key(request)
        principal = await services.keys.authenticate_async(key)
    if limit and services.limiter.on:
        await services.limiter.check(principal)
    if request_span is not None:
        request_span.set_attribute(TENANT_ID, principal.tenant_id)
    return principal


# routes that address one endpoint, by path prefix: the path parameter naming it
ENDPOINT_ROUTES = (
    ("/v1/predict/", "endpoint"),
    ("/v1/monitoring/", "endpoint"),
    ("/v1/endpoints/", "name"),
    ("/v2/models/", "name"),
)


def addressed_endpoint(path: str, params: dict) -> str | None:
    """The endpoint a request addresses, or None for a route about no one endpoint."""
    for prefix, param in ENDPOINT_ROUTES:
        if path.startswith(prefix):
            value = params.get(param)
            return value if isinstance(value, str) else None
    return None


def check_scope(principal: Principal, path: str, params: dict) -> None:
    """403 naming the endpoint when a scoped key addresses another one."""
    if principal.endpoints is not None:
        endpoint = addressed_endpoint(path, params)
        if endpoint is not None:
            principal.require_endpoint(endpoint)


def requires(permission: Permission) -> Callable[[Request], Awaitable[Principal]]:
    """A dependency that authenticates and checks one permission (403 when missing), and
    the key's endpoint scope on routes that address one endpoint."""

    async def dependency(request: Request) -> Principal:
        principal = await authenticate(request)
        principal.require(permission)
        check_scope(principal, request.scope["path"], request.path_params)
        return principal

    dependency.__name__ = f"requires_{permission.name.lower()}"
    return dependency
