"""The scheduler's test pieces: a migrated database with a tenant, a settable clock, a
launch that records the runs it starts, and the audit log's scheduler decisions."""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from ailayer.core.errors import Conflict
from ailayer.db.engine import Database
from ailayer.db.migrate import upgrade
from ailayer.governance import audit
from ailayer.governance.keys import KeyService


def migrated(url: str, tenant: str = "acme") -> tuple[Database, str]:
    """The metadata database at ``url``, migrated, and the id of ``tenant`` in it."""
    db = Database(url)
    upgrade(db)
    return db, KeyService(db).ensure_tenant(tenant)


@dataclass
class Clock:
    """What time it is for a scheduler under test; moved by hand."""

    now: datetime = datetime(2026, 12, 6, 11, 59, 30, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class RecordingLaunch:
    """A launch that keeps every run it started; ``fail`` makes the next calls raise it,
    ``running`` makes them answer ``Conflict`` as the pipelines core does."""

    runs: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    fail: Exception | None = None
    running: bool = False
    _ids: Any = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, tenant_id: str, pipeline: str, trigger: dict[str, Any]) -> str:
        if self.fail is not None:
            raise self.fail
        if self.running:
            raise Conflict(f"a run of {pipeline} is running")
        with self._lock:
            self.runs.append((tenant_id, pipeline, trigger))
            return f"run-{next(self._ids)}"


def decisions(db: Database, tenant_id: str) -> list[tuple[str, str, str]]:
    """(trigger key, decision, reason) of each scheduler audit entry, oldest first."""
    with db.read() as conn:
        rows = audit.entries(conn, tenant_id, "pipeline/", limit=1000)
    return [
        (row["detail"]["trigger"]["key"], row["detail"]["decision"], row["detail"]["reason"])
        for row in reversed(rows)
        if row["action"] == "pipeline.trigger"
    ]
