"""Endpoint → model version resolution, cached so the hot path never waits on the database.

Each entry is fresh for ``refresh_seconds`` (1 s by default); after that it is still
served while one background lookup refreshes it, so an alias moved by any process takes
effect everywhere within that time plus one lookup — no restart, no message needed, and
no burst of lookups when an entry expires under load.
"""

from __future__ import annotations

from functools import partial

from ailayer.core.cache import RefreshingCache
from ailayer.core.errors import NotFound
from ailayer.models.endpoints import EndpointService
from ailayer.models.service import ModelRegistry
from ailayer.models.signature import Signature
from ailayer.serving.target import Target

PINNED = "pinned"  # the variant of a request pinned to a version, not routed by policy


class EndpointResolver:
    def __init__(
        self, registry: ModelRegistry, endpoints: EndpointService, refresh_seconds: float = 1.0
    ) -> None:
        self.registry = registry
        self.endpoints = endpoints
        self.cache: RefreshingCache[Target] = RefreshingCache(refresh_seconds)

    async def target(self, tenant_id: str, endpoint: str) -> Target:
        """The endpoint's target from the cache; a first lookup runs in a thread."""
        return await self.cache.get(
            (tenant_id, endpoint), partial(self.resolve, tenant_id, endpoint)
        )

    def resolve(self, tenant_id: str, endpoint: str) -> Target:
        """Look the endpoint up in the database (blocking, uncached)."""
        model, alias = self.endpoints.target(tenant_id, endpoint)
        version = self.registry.resolve_alias(tenant_id, model, alias)
        return Target(endpoint, model, alias, version, Signature.parse(version.signature))

    async def pinned(self, tenant_id: str, endpoint: str, version: int) -> Target:
        """Version ``version`` of the endpoint's model, whatever the endpoint routes to
        (``/v2/models/{name}/versions/{v}``); cached like ``target``."""
        return await self.cache.get(
            (tenant_id, endpoint, version),
            partial(self.resolve_pinned, tenant_id, endpoint, version),
        )

    def resolve_pinned(self, tenant_id: str, endpoint: str, version: int) -> Target:
        """Look the pinned version up (blocking, uncached); an archived one is not served."""
        model, _alias = self.endpoints.target(tenant_id, endpoint)
        found = self.registry.get_version(tenant_id, model, version)
        if found.archived:
            raise NotFound(f"version {version} of model {model!r} is archived")
        return Target(endpoint, model, PINNED, found, Signature.parse(found.signature))
