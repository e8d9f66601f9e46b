"""Endpoint → model version resolution, cached so the hot path never waits on the database.

Each entry lives ``refresh_seconds`` (1 s by default); after that the next request looks
again, so an alias moved by any process takes effect everywhere within that time plus
one lookup — no restart, no message needed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from ailayer.registry.endpoints import EndpointService
from ailayer.registry.service import ModelRegistry
from ailayer.registry.signature import Signature


@dataclass(frozen=True, slots=True)
class Target:
    """The model version an endpoint serves right now."""

    endpoint: str
    model: str
    alias: str
    version: dict
    signature: Signature

    @property
    def key(self) -> tuple[str, int, str]:
        return (self.model, self.version["version"], self.version["artifact_sha256"])


class EndpointResolver:
    def __init__(
        self, registry: ModelRegistry, endpoints: EndpointService, refresh_seconds: float = 1.0
    ) -> None:
        self.registry = registry
        self.endpoints = endpoints
        self.refresh_seconds = refresh_seconds
        self._cache: dict[tuple[str, str], tuple[float, Target]] = {}

    def cached(self, tenant_id: str, endpoint: str) -> Target | None:
        """The cached target if still fresh; never touches the database."""
        hit = self._cache.get((tenant_id, endpoint))
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        return None

    def resolve(self, tenant_id: str, endpoint: str) -> Target:
        """Look the endpoint up in the database and refresh the cache (blocking)."""
        model, alias = self.endpoints.target(tenant_id, endpoint)
        version = self.registry.resolve_alias(tenant_id, model, alias)
        target = Target(endpoint, model, alias, version, Signature.parse(version["signature"]))
        self._cache[(tenant_id, endpoint)] = (time.monotonic() + self.refresh_seconds, target)
        return target
