"""Owning teams on the write routes: the dependency that refuses a change to another
team's object (403 naming the owner team), the claim of a newly created object for its
creator's team, and whether a named object exists (before an admin gives it away)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from ailayer.api.auth import requires
from ailayer.bootstrap import Services
from ailayer.core.errors import NotFound
from ailayer.governance.ownership import OwnershipService
from ailayer.governance.principal import Principal
from ailayer.governance.roles import Permission


def ownership(request: Request) -> OwnershipService:
    return OwnershipService(request.app.state.services.db)


def changes(
    permission: Permission, kind: str, param: str
) -> Callable[[Request], Awaitable[Principal]]:
    """``requires(permission)``, then the caller may change the ``kind`` named by the path
    parameter ``param`` (its owner team's member, an admin, or nobody owns it)."""
    authorized = requires(permission)

    async def dependency(request: Request) -> Principal:
        principal = await authorized(request)
        name = request.path_params[param]
        await run_in_threadpool(ownership(request).require_change, principal, kind, name)
        return principal

    dependency.__name__ = f"changes_{kind}"
    return dependency


def require_change(request: Request, principal: Principal, kind: str, name: str) -> None:
    ownership(request).require_change(principal, kind, name)


def claim(request: Request, principal: Principal, kind: str, name: str) -> None:
    ownership(request).claim(principal, kind, name)


def endpoint_exists(services: Services, tenant_id: str, name: str) -> bool:
    """An endpoint is a name → alias row, a deployment, or both."""
    for lookup in (services.endpoints.get, services.deployments.get):
        try:
            lookup(tenant_id, name)
            return True
        except NotFound:
            pass
    return False


def require_exists(services: Services, tenant_id: str, kind: str, name: str) -> None:
    """``NotFound`` naming the object unless the tenant has it (or, for a pipeline, the
    server's feature repo declares it)."""
    if kind == "model":
        services.registry.get_model(tenant_id, name)
    elif kind == "endpoint":
        if not endpoint_exists(services, tenant_id, name):
            raise NotFound(f"endpoint {name!r} not found", field="name")
    elif kind == "feature_view":
        services.features.get(tenant_id, "feature_view", name)
    else:
        services.pipelines.pipelines.get(name)
