"""Leases: at most one holder of a (tenant, name) at a time, across processes and hosts.

The scheduler holds a pipeline's lease while it launches a run, so replicas of the
scheduler against one metadata database never launch the same pipeline twice at once.

- ``AdvisoryLocks`` (PostgreSQL): ``pg_try_advisory_lock`` on a connection of its own per
  held lease. The lock lives as long as that connection: a holder that dies (``kill -9``,
  a lost host) lets go the moment PostgreSQL notices the connection is gone.
- ``LeaseRows`` (any database; the embedded SQLite's): a row per held lease with an
  expiry. A holder that dies keeps the lease until it expires (``ttl`` seconds).

Neither is re-entrant: a second ``acquire`` of a held lease returns False, also in the
process that holds it.
"""

from __future__ import annotations

import hashlib
import threading
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import and_, delete, insert, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError

from ailayer.core.clock import utcnow
from ailayer.core.errors import BackendUnavailable
from ailayer.db.engine import Database
from ailayer.db.tables import scheduler_leases

DEFAULT_TTL = 600.0
LOCK_NAMESPACE = b"ailayer.lease"  # blake2b personalisation (16 bytes at most)


class Lease(Protocol):
    """Mutual exclusion per (tenant, name).

    ``acquire`` returns at once: True if this caller now holds it, False if anyone
    (this process included) does. ``release`` lets go of one this caller holds (else
    does nothing). ``close`` releases every lease held through this object.
    """

    def acquire(self, tenant_id: str, name: str) -> bool: ...

    def release(self, tenant_id: str, name: str) -> None: ...

    def close(self) -> None: ...


def open_lease(db: Database) -> Lease:
    """Advisory locks on PostgreSQL, lease rows on any other database."""
    return AdvisoryLocks(db.url) if db.dialect == "postgresql" else LeaseRows(db)


def lock_key(tenant_id: str, name: str) -> int:
    """The signed 64-bit advisory lock key of a lease (a hash of tenant and name)."""
    digest = hashlib.blake2b(
        f"{tenant_id}\0{name}".encode(), digest_size=8, person=LOCK_NAMESPACE
    ).digest()
    return int.from_bytes(digest, "big", signed=True)


class AdvisoryLocks:
    """Leases as PostgreSQL session advisory locks, one dedicated connection each."""

    def __init__(self, url: str, *, connect_timeout: int = 5) -> None:
        parsed = make_url(url).set(drivername="postgresql")
        self._dsn = parsed.render_as_string(hide_password=False)
        self._timeout = connect_timeout
        self._held: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()

    def acquire(self, tenant_id: str, name: str) -> bool:
        with self._lock:
            if (tenant_id, name) in self._held:
                return False
            conn = self._connect()
            try:
                row = conn.execute(
                    "SELECT pg_try_advisory_lock(%s)", (lock_key(tenant_id, name),)
                ).fetchone()
            except Exception:
                conn.close()
                raise
            if not row or not row[0]:
                conn.close()
                return False
            self._held[(tenant_id, name)] = conn
            return True

    def release(self, tenant_id: str, name: str) -> None:
        with self._lock:
            conn = self._held.pop((tenant_id, name), None)
        if conn is not None:
            conn.close()  # the session ends, and its advisory locks with it

    def close(self) -> None:
        with self._lock:
            held, self._held = list(self._held.values()), {}
        for conn in held:
            conn.close()

    def _connect(self) -> Any:
        import psycopg  # here: the embedded default never loads it

        try:
            return psycopg.connect(self._dsn, autocommit=True, connect_timeout=self._timeout)
        except psycopg.OperationalError as exc:
            raise BackendUnavailable(
                "the metadata database is unavailable for scheduler leases; retry shortly"
            ) from exc


class LeaseRows:
    """Leases as rows of ``scheduler_leases`` that expire ``ttl`` seconds after taking."""

    def __init__(
        self,
        db: Database,
        *,
        ttl: float = DEFAULT_TTL,
        holder: str | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db, self.ttl, self.clock = db, ttl, clock
        self.holder = holder or f"lease-{uuid.uuid4().hex}"
        self._held: set[tuple[str, str]] = set()

    def acquire(self, tenant_id: str, name: str) -> bool:
        now = self.clock()
        values = {"holder": self.holder, "expires_at": now + timedelta(seconds=self.ttl)}
        this = and_(scheduler_leases.c.tenant_id == tenant_id, scheduler_leases.c.name == name)
        with self.db.write() as conn:
            taken = conn.execute(
                update(scheduler_leases)
                .where(this, scheduler_leases.c.expires_at <= now)
                .values(**values)
            ).rowcount
            if not taken:
                taken = _insert(conn, {"tenant_id": tenant_id, "name": name, **values})
        if taken:
            self._held.add((tenant_id, name))
        return bool(taken)

    def release(self, tenant_id: str, name: str) -> None:
        self._held.discard((tenant_id, name))
        with self.db.write() as conn:
            conn.execute(
                delete(scheduler_leases).where(
                    scheduler_leases.c.tenant_id == tenant_id,
                    scheduler_leases.c.name == name,
                    scheduler_leases.c.holder == self.holder,
                )
            )

    def close(self) -> None:
        for tenant_id, name in list(self._held):
            self.release(tenant_id, name)


def _insert(conn: Any, row: dict[str, Any]) -> int:
    """1 if the row went in, 0 if one with its key exists (another holder's)."""
    try:
        with conn.begin_nested():
            conn.execute(insert(scheduler_leases).values(**row))
    except IntegrityError:
        return 0
    return 1
