"""Roles and what each may do. A role is a fixed set of permissions, checked per route."""

from __future__ import annotations

from enum import StrEnum

from ailayer.core.errors import Forbidden, InvalidInput


class Permission(StrEnum):
    MODELS_READ = "models:read"
    MODELS_WRITE = "models:write"
    PREDICT = "predict"
    FEATURES_READ = "features:read"
    FEATURES_WRITE = "features:write"
    KEYS_MANAGE = "keys:manage"
    TEAMS_MANAGE = "teams:manage"  # create and delete teams, give objects to a team
    AUDIT_READ = "audit:read"
    MONITORING_READ = "monitoring:read"
    MONITORING_WRITE = "monitoring:write"
    FEEDBACK_WRITE = "feedback:write"
    METRICS = "metrics"  # GET /metrics (Prometheus scrapes)
    PII_READ = "pii:read"  # raw values of PII-tagged features (else hashed or redacted)
    PRIVACY_MANAGE = "privacy:manage"  # data subject export and deletion


class Role(StrEnum):
    ADMIN = "admin"
    DEVELOPER = "developer"
    VIEWER = "viewer"
    SERVICE = "service"


ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission),
    Role.DEVELOPER: frozenset(
        {
            Permission.MODELS_READ,
            Permission.MODELS_WRITE,
            Permission.PREDICT,
            Permission.FEATURES_READ,
            Permission.FEATURES_WRITE,
            Permission.MONITORING_READ,
            Permission.MONITORING_WRITE,
            Permission.FEEDBACK_WRITE,
            Permission.METRICS,
        }
    ),
    Role.VIEWER: frozenset(
        {
            Permission.MODELS_READ,
            Permission.FEATURES_READ,
            Permission.MONITORING_READ,
            Permission.METRICS,
        }
    ),
    Role.SERVICE: frozenset(
        {
            Permission.PREDICT,
            Permission.FEATURES_READ,
            Permission.FEEDBACK_WRITE,
            Permission.METRICS,
        }
    ),
}


def parse_role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError:
        allowed = ", ".join(r.value for r in Role)
        raise InvalidInput(f"role must be one of {allowed}; got {value!r}", field="role") from None


def require(role: Role, permission: Permission) -> None:
    if permission not in ROLE_PERMISSIONS[role]:
        raise Forbidden(f"role {role.value!r} may not {permission.value}")
