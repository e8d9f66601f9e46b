"""Tenants and API keys, and the one way a presented credential becomes a ``Principal``.

A key reads ``ail_<prefix>_<secret>``. The prefix finds the row; only the SHA-256 of the
secret is stored, so a leaked database does not leak usable keys. The secret has 192 bits
of entropy, so a fast hash is enough (no password stretching needed). The full key is
returned once, at creation, and never again.

A key may expire, be narrowed to named endpoints, and be rotated: the new secret works at
once and the old one until the overlap ends. A tenant always keeps a *keeper*: an active
admin key with no expiry, no endpoint scope and no successor, so it can never lock itself
out. Bearer tokens that are not keys (JWTs) go to the ``TokenVerifier`` when one is set.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Protocol

from anyio import to_thread
from sqlalchemy import Connection, insert, or_, select, update
from sqlalchemy.exc import SQLAlchemyError

from ailayer.core.cache import RefreshingCache
from ailayer.core.clock import utcnow
from ailayer.core.errors import (
    BackendUnavailable,
    Conflict,
    NotFound,
    Unauthenticated,
)
from ailayer.core.ids import new_id, new_secret
from ailayer.core.names import check_name
from ailayer.db.engine import Database
from ailayer.db.tables import api_keys, tenants
from ailayer.db.tenants import tenant_ids
from ailayer.governance import audit
from ailayer.governance.key_rules import (
    active,
    check_overlap,
    expiry_time,
    is_keeper,
    keepers,
    last_admin_message,
    locked_tenant,
    scope_of,
)
from ailayer.governance.principal import Principal
from ailayer.governance.roles import Role, parse_role
from ailayer.governance.teams import require_team

KEY_PATTERN = re.compile(r"^ail_([0-9a-f]{16})_([A-Za-z0-9_-]{20,})$")
_MISSING_KEY = "missing API key: send 'Authorization: Bearer <key>'"
_NO_ISSUER = (
    "bearer tokens are not accepted here: no OIDC issuer is configured (oidc_issuer); "
    "send an API key (ail_…)"
)
LAST_USED_SECONDS = 60.0  # last_used_at is written at most this often per key
logger = logging.getLogger(__name__)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def is_token(credential: str) -> bool:
    """A JWT (three dot-separated parts), not an ailayer key."""
    return not credential.startswith("ail_") and credential.count(".") == 2


class TokenVerifier(Protocol):
    """Turns a bearer token into a principal (``ailayer.governance.oidc``)."""

    def cached(self, token: str) -> Principal | None: ...

    def verify(self, token: str) -> Principal: ...


@dataclass(frozen=True)
class CreatedKey:
    """A new key. ``key`` is the only time the full secret exists outside the caller."""

    id: str
    key: str
    name: str
    role: Role
    tenant: str
    prefix: str
    expires_at: datetime | None = None
    endpoints: list[str] | None = None
    team: str | None = None


@dataclass(frozen=True)
class Rotated:
    """A rotation: the new key, and until when the old one is still accepted."""

    created: CreatedKey
    old_prefix: str
    old_valid_until: datetime


class KeyService:
    def __init__(
        self,
        db: Database,
        cache_seconds: float = 2.0,
        *,
        tokens: TokenVerifier | None = None,
        last_used_seconds: float = LAST_USED_SECONDS,
    ) -> None:
        self.db = db
        self.cache_seconds = cache_seconds
        self.cache: RefreshingCache[Principal] = RefreshingCache(cache_seconds)
        self.tokens = tokens
        self.last_used_seconds = last_used_seconds

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
        return tenant_ids(self.db)

    # keys --------------------------------------------------------------------
    def create_key(
        self,
        tenant_id: str,
        name: str,
        role: str | Role,
        *,
        actor: str = "system",
        expires_at: datetime | None = None,
        endpoints: list[str] | None = None,
        team: str | None = None,
    ) -> CreatedKey:
        """A new key; ``expires_at`` (aware, in the future) ends it, ``endpoints`` (names)
        narrows it to those endpoints, ``team`` (a team of the tenant) is its team."""
        check_name("name", name)
        role = parse_role(str(role))
        expires_at = expiry_time(expires_at)
        scope = scope_of(endpoints)
        with self.db.write() as conn:
            tenant = conn.execute(select(tenants.c.name).where(tenants.c.id == tenant_id)).first()
            if tenant is None:
                raise NotFound("tenant not found")
            if team is not None:
                require_team(conn, tenant_id, team)
            created = self._insert(
                conn, tenant_id, tenant.name, name, role, actor, expires_at, scope, team
            )
            detail = {"role": role.value, "expires_at": _iso(expires_at), "endpoints": scope}
            if team is not None:
                detail["team"] = team
            audit.record(conn, tenant_id, actor, "key.create", f"key/{created.prefix}", **detail)
        return created

    def _insert(
        self,
        conn: Connection,
        tenant_id: str,
        tenant: str,
        name: str,
        role: Role,
        actor: str,
        expires_at: datetime | None,
        endpoints: list[str] | None,
        team: str | None = None,
    ) -> CreatedKey:
        prefix = new_id()[-16:]
        secret = new_secret()
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
                expires_at=expires_at,
                endpoints=endpoints,
                team=team,
            )
        )
        key = f"ail_{prefix}_{secret}"
        return CreatedKey(key_id, key, name, role, tenant, prefix, expires_at, endpoints, team)

    def list_keys(self, tenant_id: str) -> list[dict]:
        columns = [
            api_keys.c[name]
            for name in (
                "id",
                "name",
                "prefix",
                "role",
                "created_at",
                "created_by",
                "revoked_at",
                "expires_at",
                "last_used_at",
                "endpoints",
                "replaced_by",
                "team",
            )
        ]
        query = (
            select(*columns)
            .where(api_keys.c.tenant_id == tenant_id)
            .order_by(api_keys.c.created_at, api_keys.c.id)
        )
        with self.db.read() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def revoke_key(self, tenant_id: str, prefix: str, *, actor: str) -> None:
        """Revoke one active key; the tenant's last keeper is refused (409), so a tenant
        can never lock itself out. The tenant row is locked first, so two revocations
        racing for the last two admin keys run one after the other."""
        with self.db.write() as conn:
            tenant = locked_tenant(conn, tenant_id)
            row = _tenant_key(conn, tenant_id, prefix)
            if is_keeper(row) and keepers(conn, tenant_id) <= 1:
                raise Conflict(last_admin_message(prefix, tenant, "revoking"), field="prefix")
            conn.execute(
                update(api_keys).where(api_keys.c.id == row.id).values(revoked_at=utcnow())
            )
            audit.record(conn, tenant_id, actor, "key.revoke", f"key/{prefix}")
        self.cache.clear()

    def set_expiry(
        self, tenant_id: str, prefix: str, expires_at: datetime | None, *, actor: str
    ) -> dict:
        """Give an active key an expiry (or take it away with None). The last keeper may
        not be given one (409), as it may not be revoked."""
        expires_at = expiry_time(expires_at)
        with self.db.write() as conn:
            tenant = locked_tenant(conn, tenant_id)
            row = _tenant_key(conn, tenant_id, prefix)
            if expires_at is not None and is_keeper(row) and keepers(conn, tenant_id) <= 1:
                raise Conflict(last_admin_message(prefix, tenant, "expiring"), field="prefix")
            _check_extendable(row, expires_at)
            conn.execute(
                update(api_keys).where(api_keys.c.id == row.id).values(expires_at=expires_at)
            )
            audit.record(
                conn, tenant_id, actor, "key.expire", f"key/{prefix}", expires_at=_iso(expires_at)
            )
        self.cache.clear()
        return {"prefix": prefix, "expires_at": expires_at}

    def rotate_key(
        self, tenant_id: str, name_or_prefix: str, overlap_seconds: float, *, actor: str
    ) -> Rotated:
        """A new secret for the active key named (or prefixed) so: same name, role, scope
        and expiry; the old key stays valid for ``overlap_seconds`` (and never past its
        own expiry), then is refused. Audited as ``key.rotate``."""
        check_overlap(overlap_seconds)
        now = utcnow()
        with self.db.write() as conn:
            tenant = locked_tenant(conn, tenant_id)
            old = _rotatable(conn, tenant_id, name_or_prefix, now)
            role = Role(old.role)
            created = self._insert(
                conn,
                tenant_id,
                tenant,
                old.name,
                role,
                actor,
                old.expires_at,
                old.endpoints,
                old.team,
            )
            until = now + timedelta(seconds=overlap_seconds)
            if old.expires_at is not None:
                until = min(until, old.expires_at)
            conn.execute(
                update(api_keys)
                .where(api_keys.c.id == old.id)
                .values(expires_at=until, replaced_by=created.prefix)
            )
            detail = {"new": created.prefix, "old_valid_until": _iso(until)}
            audit.record(conn, tenant_id, actor, "key.rotate", f"key/{old.prefix}", **detail)
        self.cache.clear()
        return Rotated(created, old.prefix, until)

    # authentication ----------------------------------------------------------
    def cached(self, raw_key: str | None) -> Principal | None:
        """The principal for a credential seen within ``cache_seconds``; never blocks."""
        if not raw_key:
            return None
        if is_token(raw_key):
            return self.tokens.cached(raw_key) if self.tokens is not None else None
        return self.cache.fresh(hash_secret(raw_key))

    def authenticate(self, raw_key: str | None) -> Principal:
        """Resolve a presented key or token to its principal, or raise ``Unauthenticated``
        (blocking). Results are cached for ``cache_seconds``, keyed by a hash, never the
        secret; expiry is judged on every call."""
        if not raw_key:
            raise Unauthenticated(_MISSING_KEY)
        if is_token(raw_key):
            return self._tokens().verify(raw_key)
        principal = self.cache.load(hash_secret(raw_key), partial(self._lookup, raw_key))
        return principal.check_expiry()

    async def authenticate_async(self, raw_key: str | None) -> Principal:
        """Like ``authenticate``, for the event loop: an expired entry is served while one
        refresh runs in a thread (for at most another ``cache_seconds``), so a revoked key
        stops working within ``2 * cache_seconds``. A token not seen before is verified
        in a thread (its issuer's keys may have to be fetched)."""
        if not raw_key:
            raise Unauthenticated(_MISSING_KEY)
        if is_token(raw_key):
            verifier = self._tokens()
            hit = verifier.cached(raw_key)
            return hit if hit is not None else await to_thread.run_sync(verifier.verify, raw_key)
        key = hash_secret(raw_key)
        principal = await self.cache.get(key, partial(self._lookup, raw_key))
        return principal.check_expiry()

    def principal_of(self, key_id: str) -> Principal:
        """The principal of the key with this id, read now (no cache): what a session
        opened with the key re-checks on every page, so a revoked or expired key ends it
        at once. ``Unauthenticated`` when the key is gone, revoked or expired."""
        query = (
            select(api_keys, tenants.c.name.label("tenant_name"))
            .join(tenants, tenants.c.id == api_keys.c.tenant_id)
            .where(api_keys.c.id == key_id)
        )
        with self.db.read() as conn:
            row = conn.execute(query).first()
        if row is None or row.revoked_at is not None:
            raise Unauthenticated("the API key of this session was revoked")
        return _principal(row).check_expiry()

    def _tokens(self) -> TokenVerifier:
        if self.tokens is None:
            raise Unauthenticated(_NO_ISSUER)
        return self.tokens

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
        principal = _principal(row).check_expiry()
        self._mark_used(row.id, row.last_used_at)
        return principal

    def _mark_used(self, key_id: str, last_used: datetime | None) -> None:
        """Stamp ``last_used_at`` when the stored one is older than ``last_used_seconds``.
        Runs with the cache's lookup (one per key per ``cache_seconds`` at most), never per
        request; the condition keeps replicas from all writing the same minute. Best
        effort: a failed stamp does not refuse the key."""
        now = utcnow()
        since = now - timedelta(seconds=self.last_used_seconds)
        if last_used is not None and last_used > since:
            return
        try:
            with self.db.write() as conn:
                conn.execute(
                    update(api_keys)
                    .where(
                        api_keys.c.id == key_id,
                        or_(api_keys.c.last_used_at.is_(None), api_keys.c.last_used_at <= since),
                    )
                    .values(last_used_at=now)
                )
        except (BackendUnavailable, SQLAlchemyError) as exc:
            logger.warning("could not record a key's last use: %s", type(exc).__name__)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _tenant_key(conn: Connection, tenant_id: str, prefix: str):  # type: ignore[no-untyped-def]
    row = conn.execute(
        select(api_keys).where(
            api_keys.c.tenant_id == tenant_id,
            api_keys.c.prefix == prefix,
            api_keys.c.revoked_at.is_(None),
        )
    ).first()
    if row is None:
        raise NotFound(f"key {prefix!r} not found")
    return row


def _check_extendable(row, expires_at: datetime | None) -> None:  # type: ignore[no-untyped-def]
    """An expired key stays expired, and a rotated-out key's overlap may only shrink: an
    expiry never brings back a secret that was meant to end."""
    if row.expires_at is None:
        return
    if row.expires_at <= utcnow():
        raise Conflict(
            f"key {row.prefix!r} expired at {row.expires_at.isoformat()}; "
            "create or rotate a key instead",
            field="prefix",
        )
    if row.replaced_by is not None and (expires_at is None or expires_at > row.expires_at):
        raise Conflict(
            f"key {row.prefix!r} was rotated out by {row.replaced_by!r}; its overlap ends "
            f"at {row.expires_at.isoformat()} and may only be shortened",
            field="expires_at",
        )


def _rotatable(conn: Connection, tenant_id: str, name_or_prefix: str, now: datetime):  # type: ignore[no-untyped-def]
    """The one active, not yet rotated key with that name or prefix in the tenant."""
    rows = conn.execute(
        select(api_keys).where(
            api_keys.c.tenant_id == tenant_id,
            or_(api_keys.c.name == name_or_prefix, api_keys.c.prefix == name_or_prefix),
            active(now),
            api_keys.c.replaced_by.is_(None),
        )
    ).all()
    if not rows:
        raise NotFound(f"no active key named {name_or_prefix!r} (or with that prefix)")
    if len(rows) > 1:
        prefixes = ", ".join(sorted(r.prefix for r in rows))
        raise Conflict(
            f"{len(rows)} active keys are named {name_or_prefix!r} ({prefixes}); "
            "rotate one by its prefix",
            field="name",
        )
    return rows[0]


def _principal(row) -> Principal:  # type: ignore[no-untyped-def]
    """A key row (joined with its tenant's name) as the principal it stands for."""
    return Principal(
        tenant_id=row.tenant_id,
        tenant_name=row.tenant_name,
        key_id=row.id,
        key_name=row.name,
        key_prefix=row.prefix,
        role=Role(row.role),
        endpoints=frozenset(row.endpoints) if row.endpoints is not None else None,
        expires_at=row.expires_at.timestamp() if row.expires_at is not None else None,
        team=row.team,
    )


def _key_row(conn: Connection, prefix: str):  # type: ignore[no-untyped-def]
    query = (
        select(api_keys, tenants.c.name.label("tenant_name"))
        .join(tenants, tenants.c.id == api_keys.c.tenant_id)
        .where(api_keys.c.prefix == prefix)
    )
    return conn.execute(query).first()
