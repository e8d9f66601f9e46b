"""Who is calling: the tenant and role that an API key resolves to."""

from __future__ import annotations

from dataclasses import dataclass

from ailayer.governance.roles import Permission, Role, require


@dataclass(frozen=True, slots=True)
class Principal:
    tenant_id: str
    tenant_name: str
    key_id: str
    key_name: str
    key_prefix: str
    role: Role

    @property
    def actor(self) -> str:
        """How this caller is named in audit trails (never the secret)."""
        return f"{self.key_name} ({self.key_prefix})"

    def require(self, permission: Permission) -> None:
        require(self.role, permission)
