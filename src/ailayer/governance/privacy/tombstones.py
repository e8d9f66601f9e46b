"""The tombstone list: subjects erased in a tenant, so they do not come back.

Materialization and stream writes ask ``erased_keys`` before they write a view's rows; a
subject deleted by a privacy request is skipped there from then on. The list holds only a
salted hash of ``key=value`` (the tenant's PII salt, ``governance.pii``), so it names no
one by itself. A process reads a tenant's list at most every ``ttl`` seconds (and at once
after its own ``add``); a tenant with no tombstones costs a set lookup per batch.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, insert, select
from sqlalchemy.exc import IntegrityError

from ailayer.core.clock import utcnow
from ailayer.db.engine import Database
from ailayer.db.tables import privacy_tombstones
from ailayer.governance.pii import SaltStore, pii_hash
from ailayer.governance.privacy.subject import Subject

TTL_SECONDS = 2.0


class Tombstones:
    def __init__(self, db: Database, salts: SaltStore, ttl: float = TTL_SECONDS) -> None:
        self.db = db
        self.salts = salts
        self.ttl = ttl
        self._cache: dict[str, tuple[float, frozenset[str]]] = {}
        self._lock = threading.Lock()

    def hash(self, tenant_id: str, key: str, value: Any) -> str:
        """The salted hash of ``key=value`` (the value as text: ``42`` for 42)."""
        return pii_hash(f"{key}={value}", self.salts.salt(tenant_id))

    def add(self, tenant_id: str, subject: Subject) -> str:
        """Record the subject as erased; its hash. Idempotent."""
        digest = self.hash(tenant_id, subject.key, subject.value)  # the salt, made first
        try:
            with self.db.write() as conn:
                self._insert(conn, tenant_id, subject, digest)
        except IntegrityError:
            pass  # a concurrent delete of the same subject added it first
        with self._lock:
            self._cache.pop(tenant_id, None)
        return digest

    @staticmethod
    def _insert(conn: Connection, tenant_id: str, subject: Subject, digest: str) -> None:
        exists = conn.execute(
            select(privacy_tombstones.c.subject_hash).where(
                privacy_tombstones.c.tenant_id == tenant_id,
                privacy_tombstones.c.subject_hash == digest,
            )
        ).first()
        if exists is None:
            conn.execute(
                insert(privacy_tombstones).values(
                    tenant_id=tenant_id,
                    subject_hash=digest,
                    subject_key=subject.key,
                    created_at=utcnow(),
                )
            )

    def hashes(self, tenant_id: str) -> frozenset[str]:
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(tenant_id)
        if cached is not None and now - cached[0] < self.ttl:
            return cached[1]
        query = select(privacy_tombstones.c.subject_hash).where(
            privacy_tombstones.c.tenant_id == tenant_id
        )
        with self.db.read() as conn:
            found = frozenset(conn.execute(query).scalars())
        with self._lock:
            self._cache[tenant_id] = (now, found)
        return found

    def is_erased(self, tenant_id: str, subject: Subject) -> bool:
        return self.hash(tenant_id, subject.key, subject.value) in self.hashes(tenant_id)

    def erased_keys(self, tenant_id: str, key: str, values: Iterable[Any]) -> set[Any]:
        """Which of ``values`` of join key ``key`` belong to erased subjects."""
        hashes = self.hashes(tenant_id)
        if not hashes:
            return set()
        return {v for v in set(values) if self.hash(tenant_id, key, v) in hashes}
