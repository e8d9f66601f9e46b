"""Tenants and API keys.

A key reads ``ail_<prefix>_<secret>``. The prefix finds the row; only the SHA-256 of the
secret is stored, so a leaked database does not leak usable keys. The secret has 192 bits
of entropy, so a fast hash is enough (no password stretching needed). The full key is
returned once, at creation, and never again.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from functools import partial

from sqlalchemy import Connection, func, insert, select, update

from ailayer.core.cache import RefreshingCache
from ailayer.core.clock import utcnow
from ailayer.core.errors import Conflict, NotFound, Unauthenticated
from ailayer.core.ids import new_id, new_secret
from ailayer.core.names import check_name
from ailayer.db.engine import Database
from ailayer.db.tables import api_keys, tenants
from ailayer.governance import audit
from ailayer.governance.principal import Principal
from ailayer.governance.roles import Role, parse_role

KEY_PATTERN = re.compile(r"^ail_([0-9a-f]{16})_([A-Za-z0-9_-]{20,})$")
_MISSING_KEY = "missing API key: send 'Authorization: Bearer <key>'"


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class CreatedKey:
    """A new key. ``key`` is the only time the full secret exists outside the caller."""

    id: str
    key: str
    name: str
    role: Role
    tenant: str
    prefix: str


class KeyService:
    def __init__(self, db: Database, cache_seconds: float = 2.0) -> None:
        self.db = db
        self.cache_seconds = cache_seconds
        self.cache: RefreshingCache[Principal] = RefreshingCache(cache_seconds)

    # tenants -----------------------------------------------------------------
    def create_tenant(self, name: str) -> str:
        check_name("tenant", name)
        with self.db.write() as conn:
            if conn.execute(select(tenants.c.id).where(tenants.c.name == name)).first():
                raise Conflict(f"tenant {name!r} already exists", field="tenant")
            tenant_id = new_id()
            conn.execute(insert(tenants).values(id=tenant_id, name=name, created_at=utcnow()))
        return tenant_id

    def tenant_id(self, name: str) -> str:
        with self.db.read() as conn:
            row = conn.execute(select(tenants.c.id).where(tenants.c.name == name)).first()
        if row is None:
            raise NotFound(f"tenant {name!r} not found")
        return row.id

    def ensure_tenant(self, name: str) -> str:
        try:
            return self.tenant_id(name)
        except NotFound:
            return self.create_tenant(name)

    def tenant_ids(self) -> list[str]:
        """Every tenant's id (the scheduler runs declared pipelines for each)."""
        with self.db.read() as conn:
            return sorted(row.id for row in conn.execute(select(tenants.c.id)))

    # keys --------------------------------------------------------------------
    def create_key(
        self, tenant_id: str, name: str, role: str | Role, *, actor: str = "system"
    ) -> CreatedKey:
        check_name("name", name)
        role = parse_role(str(role))
        prefix = new_id()[-16:]
        secret = new_secret()
        with self.db.write() as conn:
            tenant = conn.execute(select(tenants.c.name).where(tenants.c.id == tenant_id)).first()
            if tenant is None:
                raise NotFound("tenant not found")
            key_id = new_id()
            conn.execute(
                insert(api_keys).values(
                    id=key_id,
                    tenant_id=tenant_id,
                    name=name,
                    prefix=prefix,
                    secret_hash=hash_secret(secret),
                    role=role.value,
                    created_at=utcnow(),
                    created_by=actor,
                )
            )
            audit.record(conn, tenant_id, actor, "key.create", f"key/{prefix}", role=role.value)
        return CreatedKey(key_id, f"ail_{prefix}_{secret}", name, role, tenant.name, prefix)

    def list_keys(self, tenant_id: str) -> list[dict]:
        with self.db.read() as conn:
            rows = conn.execute(
                select(
                    api_keys.c.id,
                    api_keys.c.name,
                    api_keys.c.prefix,
                    api_keys.c.role,
                    api_keys.c.created_at,
                    api_keys.c.created_by,
                    api_keys.c.revoked_at,
                )
                .where(api_keys.c.tenant_id == tenant_id)
                .order_by(api_keys.c.created_at)
            )
            return [dict(r._mapping) for r in rows]

    def revoke_key(self, tenant_id: str, prefix: str, *, actor: str) -> None:
        """Revoke one active key; the tenant's last active admin key is refused (409), so
        a tenant can never lock itself out. The tenant row is locked first, so two
        revocations racing for the last two admin keys run one after the other."""
        with self.db.write() as conn:
            tenant = _locked_tenant(conn, tenant_id)
            role = conn.execute(
                select(api_keys.c.role).where(
                    api_keys.c.tenant_id == tenant_id,
                    api_keys.c.prefix == prefix,
                    api_keys.c.revoked_at.is_(None),
                )
            ).scalar()
            if role is None:
                raise NotFound(f"key {prefix!r} not found")
            if role == Role.ADMIN.value and _active_admins(conn, tenant_id) <= 1:
                raise Conflict(last_admin_message(prefix, tenant), field="prefix")
            conn.execute(
                update(api_keys)
                .where(api_keys.c.tenant_id == tenant_id, api_keys.c.prefix == prefix)
                .values(revoked_at=utcnow())
            )
            audit.record(conn, tenant_id, actor, "key.revoke", f"key/{prefix}")
        self.cache.clear()

    # authentication ----------------------------------------------------------
    def cached(self, raw_key: str | None) -> Principal | None:
        """The principal for a key seen within ``cache_seconds``; never blocks."""
        return self.cache.fresh(hash_secret(raw_key)) if raw_key else None

    def authenticate(self, raw_key: str | None) -> Principal:
        """Resolve a presented key to its principal, or raise ``Unauthenticated`` (blocking).

        Results are cached for ``cache_seconds``, keyed by a hash, never the secret.
        """
        if not raw_key:
            raise Unauthenticated(_MISSING_KEY)
        return self.cache.load(hash_secret(raw_key), partial(self._lookup, raw_key))

    async def authenticate_async(self, raw_key: str | None) -> Principal:
        """Like ``authenticate``, for the event loop: an expired entry is served while one
        refresh runs in a thread (for at most another ``cache_seconds``), so a revoked key
        stops working within ``2 * cache_seconds``."""
        if not raw_key:
            raise Unauthenticated(_MISSING_KEY)
        return await self.cache.get(hash_secret(raw_key), partial(self._lookup, raw_key))

    def _lookup(self, raw_key: str) -> Principal:
        match = KEY_PATTERN.match(raw_key)
        if match is None:
            raise Unauthenticated("invalid API key")
        prefix, secret = match.groups()
        with self.db.read() as conn:
            row = _key_row(conn, prefix)
        if row is None or row.revoked_at is not None:
            raise Unauthenticated("invalid API key")
        if not hmac.compare_digest(row.secret_hash, hash_secret(secret)):
            raise Unauthenticated("invalid API key")
        return Principal(
            tenant_id=row.tenant_id,
            tenant_name=row.tenant_name,
            key_id=row.id,
            key_name=row.name,
            key_prefix=row.prefix,
            role=Role(row.role),
        )


def last_admin_message(prefix: str, tenant: str) -> str:
    return (
        f"key {prefix!r} is the last active admin key of tenant {tenant!r}; revoking it "
        "would leave no key that can manage keys. Create another admin key first "
        f"(ailayer keys create NAME --role admin --tenant {tenant}), then revoke this one"
    )


def _locked_tenant(conn: Connection, tenant_id: str) -> str:
    """The tenant's name, its row locked until the transaction ends (PostgreSQL; SQLite's
    ``BEGIN IMMEDIATE`` already holds the database's write lock)."""
    query = select(tenants.c.name).where(tenants.c.id == tenant_id).with_for_update()
    name = conn.execute(query).scalar()
    if name is None:
        raise NotFound("tenant not found")
    return name


def _active_admins(conn: Connection, tenant_id: str) -> int:
    query = select(func.count()).where(
        api_keys.c.tenant_id == tenant_id,
        api_keys.c.role == Role.ADMIN.value,
        api_keys.c.revoked_at.is_(None),
    )
    return conn.execute(query).scalar_one()


def _key_row(conn: Connection, prefix: str):  # type: ignore[no-untyped-def]
    query = (
        select(api_keys, tenants.c.name.label("tenant_name"))
        .join(tenants, tenants.c.id == api_keys.c.tenant_id)
        .where(api_keys.c.prefix == prefix)
    )
    return conn.execute(query).first()
