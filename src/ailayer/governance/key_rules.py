"""The rules a key's lifecycle keeps: which keys keep a tenant manageable, and what an
expiry, an overlap and an endpoint scope may be."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import ColumnElement, Connection, Row, and_, func, or_, select

from ailayer.core.clock import utcnow
from ailayer.core.errors import InvalidInput, NotFound
from ailayer.core.names import check_name
from ailayer.db.tables import api_keys, tenants
from ailayer.governance.roles import Role

MAX_OVERLAP_SECONDS = 30 * 86400  # a rotation's old key lives at most 30 days more
MAX_SCOPED_ENDPOINTS = 100


def last_admin_message(prefix: str, tenant: str, doing: str = "revoking") -> str:
    return (
        f"key {prefix!r} is the last active admin key of tenant {tenant!r}; {doing} it "
        "would leave no key that can manage keys. Create another admin key first "
        f"(ailayer keys create NAME --role admin --tenant {tenant}), then revoke this one"
    )


def is_keeper(row: Row) -> bool:
    """An admin key that keeps the tenant manageable: active, unscoped, no expiry, not
    rotated out."""
    return (
        row.role == Role.ADMIN.value
        and row.revoked_at is None
        and row.expires_at is None
        and row.replaced_by is None
        and row.endpoints is None
    )


def keepers(conn: Connection, tenant_id: str) -> int:
    query = select(func.count()).where(
        api_keys.c.tenant_id == tenant_id,
        api_keys.c.role == Role.ADMIN.value,
        api_keys.c.revoked_at.is_(None),
        api_keys.c.expires_at.is_(None),
        api_keys.c.replaced_by.is_(None),
        api_keys.c.endpoints.is_(None),
    )
    return conn.execute(query).scalar_one()


def active(now: datetime) -> ColumnElement[bool]:
    """Not revoked and not expired at ``now``."""
    return and_(
        api_keys.c.revoked_at.is_(None),
        or_(api_keys.c.expires_at.is_(None), api_keys.c.expires_at > now),
    )


def locked_tenant(conn: Connection, tenant_id: str) -> str:
    """The tenant's name, its row locked until the transaction ends (PostgreSQL; SQLite's
    ``BEGIN IMMEDIATE`` already holds the database's write lock)."""
    query = select(tenants.c.name).where(tenants.c.id == tenant_id).with_for_update()
    name = conn.execute(query).scalar()
    if name is None:
        raise NotFound("tenant not found")
    return name


def expiry_time(expires_at: datetime | None) -> datetime | None:
    """``expires_at`` in UTC, or 422 naming the field: it must carry a zone, be in the
    future and be a time UTC can hold."""
    if expires_at is None:
        return None
    if expires_at.tzinfo is None:
        raise InvalidInput("expires_at must carry a time zone (e.g. ...Z)", field="expires_at")
    try:
        value = expires_at.astimezone(UTC)
    except OverflowError:
        raise InvalidInput("expires_at is out of range", field="expires_at") from None
    if value <= utcnow():
        raise InvalidInput(
            f"expires_at must be in the future; got {value.isoformat()}", field="expires_at"
        )
    return value


def check_overlap(seconds: float) -> None:
    if not 0 <= seconds <= MAX_OVERLAP_SECONDS:
        raise InvalidInput(
            f"overlap_seconds must be between 0 and {MAX_OVERLAP_SECONDS} (30 days); got {seconds}",
            field="overlap_seconds",
        )


def scope_of(endpoints: list[str] | None) -> list[str] | None:
    """The endpoint names a key is narrowed to, checked, sorted and distinct."""
    if endpoints is None:
        return None
    if not endpoints or len(endpoints) > MAX_SCOPED_ENDPOINTS:
        raise InvalidInput(
            f"endpoints must name 1 to {MAX_SCOPED_ENDPOINTS} endpoints (omit it for all)",
            field="endpoints",
        )
    return sorted({check_name("endpoints", name) for name in endpoints})
