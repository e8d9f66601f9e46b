"""Endpoint → what serves it, cached so the hot path never waits on the database.

An endpoint with a deployment policy (``ailayer.rollout``) resolves to one ``Target`` per
variant, each carrying the variant's name as its ``alias`` (so the prediction log's
``alias`` column is the variant); one without keeps its alias routing: one target, the
version its model's alias points at.

Each entry is fresh for ``refresh_seconds`` (1 s by default); for as long again it is
still served while one background lookup refreshes it, and beyond that (a process that
was idle) requests wait for that lookup. So a policy or alias changed by any process (a
rollback included) is followed by every request made ``2 * refresh_seconds`` after the
change, in every process, busy or idle — no restart, no message needed, and no burst of
lookups when an entry expires under load.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from ailayer.core.cache import RefreshingCache
from ailayer.core.errors import NotFound
from ailayer.models.endpoints import EndpointService
from ailayer.models.service import ModelRegistry
from ailayer.models.signature import Signature
from ailayer.models.version import ModelVersion
from ailayer.rollout.policy import Policy, PolicyStore, Variant
from ailayer.rollout.router import Router
from ailayer.serving.target import Target

PINNED = "pinned"  # the variant of a request pinned to a version, not routed by policy


@dataclass(frozen=True, slots=True)
class Routing:
    """How an endpoint is served right now: its live targets (in the policy's order, the
    router's indexes) and its shadows. ``policy`` is None for alias routing."""

    live: tuple[Target, ...]
    shadows: tuple[Target, ...] = ()
    policy: Policy | None = None
    router: Router | None = None

    def assign(self, records: list) -> list[int]:
        """The index into ``live`` of each record's variant."""
        if self.router is None:
            return [0] * len(records)
        return self.router.assign(records)


class EndpointResolver:
    def __init__(
        self,
        registry: ModelRegistry,
        endpoints: EndpointService,
        refresh_seconds: float = 1.0,
        policies: PolicyStore | None = None,
    ) -> None:
        self.registry = registry
        self.endpoints = endpoints
        self.policies = policies
        self.cache: RefreshingCache[Routing] = RefreshingCache(refresh_seconds)

    async def routing(self, tenant_id: str, endpoint: str) -> Routing:
        """The endpoint's routing from the cache; a first lookup runs in a thread."""
        return await self.cache.get(
            (tenant_id, endpoint), partial(self.resolve_routing, tenant_id, endpoint)
        )

    async def target(self, tenant_id: str, endpoint: str) -> Target:
        """The endpoint's first live target (its only one unless a policy splits it)."""
        return (await self.routing(tenant_id, endpoint)).live[0]

    def resolve(self, tenant_id: str, endpoint: str) -> Target:
        """Look the endpoint's first live target up in the database (blocking, uncached)."""
        return self.resolve_routing(tenant_id, endpoint).live[0]

    def resolve_routing(self, tenant_id: str, endpoint: str) -> Routing:
        """Look the endpoint up in the database (blocking, uncached)."""
        policy = None if self.policies is None else self.policies.active(tenant_id, endpoint)
        if policy is None:
            model, alias = self.endpoints.target(tenant_id, endpoint)
            version = self.registry.resolve_alias(tenant_id, model, alias)
            return Routing((Target(endpoint, model, alias, version, _signature(version)),))
        live = tuple(self._variant(tenant_id, endpoint, v) for v in policy.live)
        shadows = tuple(self._variant(tenant_id, endpoint, v) for v in policy.shadows)
        return Routing(live, shadows, policy, Router(tenant_id, policy))

    async def pinned_routing(self, tenant_id: str, endpoint: str, version: int) -> Routing:
        """Version ``version`` of the endpoint's model, whatever the endpoint routes to
        (``/v2/models/{name}/versions/{v}``); cached like ``routing``."""
        return await self.cache.get(
            (tenant_id, endpoint, version),
            partial(self.resolve_pinned, tenant_id, endpoint, version),
        )

    async def pinned(self, tenant_id: str, endpoint: str, version: int) -> Target:
        return (await self.pinned_routing(tenant_id, endpoint, version)).live[0]

    def resolve_pinned(self, tenant_id: str, endpoint: str, version: int) -> Routing:
        """Look the pinned version up (blocking, uncached): of the model of the endpoint's
        first live variant under a policy, else of its alias's model; an archived version
        is not served."""
        policy = None if self.policies is None else self.policies.active(tenant_id, endpoint)
        if policy is not None:
            model = policy.live[0].model
        else:
            model, _alias = self.endpoints.target(tenant_id, endpoint)
        found = self.registry.get_version(tenant_id, model, version)
        if found.archived:
            raise NotFound(f"version {version} of model {model!r} is archived")
        return Routing((Target(endpoint, model, PINNED, found, _signature(found)),))

    def _variant(self, tenant_id: str, endpoint: str, variant: Variant) -> Target:
        version = self.registry.get_version(tenant_id, variant.model, variant.version)
        return Target(endpoint, variant.model, variant.name, version, _signature(version))


def _signature(version: ModelVersion) -> Signature:
    return Signature.parse(version.signature)
