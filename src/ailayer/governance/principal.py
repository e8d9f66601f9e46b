"""Who is calling: the tenant, role and limits that an API key or an SSO token resolves to."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

from ailayer.core.errors import Forbidden, Unauthenticated
from ailayer.governance.roles import Permission, Role, require

TOKEN_PREFIX = "oidc"  # key_prefix of a principal from a bearer token
# what a key narrowed to endpoints may never do, whatever its role
_UNSCOPED = {Permission.KEYS_MANAGE: "manage keys", Permission.TEAMS_MANAGE: "manage teams"}


@dataclass(frozen=True, slots=True)
class Principal:
    """``endpoints``: the only endpoints this caller may address (None: all of them);
    ``expires_at``: epoch seconds after which it is refused, checked on every request,
    also when the principal comes from a cache; ``team``: the key's team, or an SSO
    token's team claim (what it may change: ``ownership``)."""

    tenant_id: str
    tenant_name: str
    key_id: str
    key_name: str
    key_prefix: str
    role: Role
    endpoints: frozenset[str] | None = None
    expires_at: float | None = None
    team: str | None = None

    @property
    def actor(self) -> str:
        """How this caller is named in audit trails (never the secret)."""
        return f"{self.key_name} ({self.key_prefix})"

    @property
    def is_token(self) -> bool:
        return self.key_prefix == TOKEN_PREFIX

    def require(self, permission: Permission) -> None:
        require(self.role, permission)
        if permission in _UNSCOPED and self.endpoints is not None:
            raise Forbidden(
                f"key {self.key_name!r} is scoped to endpoints and may not "
                f"{_UNSCOPED[permission]}; use an admin key without --endpoints"
            )

    def require_endpoint(self, endpoint: str) -> None:
        """403 naming the endpoint when this caller is scoped to others."""
        if self.endpoints is not None and endpoint not in self.endpoints:
            allowed = ", ".join(sorted(self.endpoints))
            raise Forbidden(
                f"key {self.key_name!r} is scoped to endpoints [{allowed}]; "
                f"it may not use endpoint {endpoint!r}",
                field="endpoint",
            )

    def check_expiry(self, now: float | None = None) -> Principal:
        """Self, or 401 saying when it expired (the caller holds the credential, so
        saying so leaks nothing)."""
        if self.expires_at is not None and self.expires_at <= (now or time.time()):
            when = datetime.fromtimestamp(self.expires_at, UTC).isoformat(timespec="seconds")
            what = "token" if self.is_token else f"API key {self.key_prefix!r}"
            raise Unauthenticated(f"{what} expired at {when}")
        return self
