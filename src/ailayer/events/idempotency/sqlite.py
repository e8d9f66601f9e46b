"""``sqlite:///path.db``: processed ids in a SQLite file, shared by a machine's processes.

One row per (group, tenant, event id) in ``processed_ids``, with the time it was marked.
Every ``trim_every`` marks (per process) a group is trimmed to ``max_entries`` rows and rows
older than ``max_age`` go, so the file stays bounded. Files written before ids were kept
per tenant hold a ``processed_events`` table (group and id only); it is never read — its
rows cannot say whose event they were — and can be dropped. ``apply`` runs a handler's writes to this same file and records the
id in one ``BEGIN IMMEDIATE`` transaction: the effect commits exactly once.
Calls run on one worker thread per store, off the event loop.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from ailayer.core.errors import InvalidInput
from ailayer.events.brokers._url import split_options
from ailayer.events.envelope import Event
from ailayer.events.idempotency import DEFAULT_MAX_AGE, DEFAULT_MAX_ENTRIES, OPTIONS
from ailayer.events.sqlite_worker import SqliteWorker

TRIM_EVERY = 1000
SCHEMA = (
    "CREATE TABLE IF NOT EXISTS processed_ids (grp TEXT NOT NULL, tenant TEXT NOT NULL,"
    " event_id TEXT NOT NULL, marked_at REAL NOT NULL,"
    " PRIMARY KEY (grp, tenant, event_id)) WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS processed_ids_by_age ON processed_ids (grp, marked_at)",
)

Write = Callable[[sqlite3.Connection, Event], None]
Key = tuple[str, str, str]  # group, tenant, event id


class SqliteIdempotencyStore:
    """See the module docstring; ``path`` is created on first use."""

    def __init__(
        self,
        path: Path,
        *,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        max_age: float = DEFAULT_MAX_AGE,
        trim_every: int = TRIM_EVERY,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = path
        self.max_entries, self.max_age, self.trim_every = max_entries, max_age, trim_every
        self.clock = clock
        self._db = SqliteWorker(path, _init, f"the idempotency store {path}", "ailayer-idem")
        self._marks = 0

    @classmethod
    def from_url(cls, url: str) -> SqliteIdempotencyStore:
        url, options = split_options(url, OPTIONS)
        path = url.removeprefix("sqlite:///")
        if not path or path == url:
            raise InvalidInput(f"expected sqlite:///PATH; got {url!r}", field="url")
        return cls(Path(path), **options)  # type: ignore[arg-type]

    async def seen(self, tenant: str, group: str, event_id: str) -> bool:
        return await self._db.run(self._seen, (group, tenant, event_id))

    async def mark(self, tenant: str, group: str, event_id: str) -> None:
        await self._db.run(self._apply, (group, tenant, event_id), None, None)

    async def apply(self, group: str, event: Event, write: Write) -> bool:
        """Run ``write(conn, event)`` and record ``event.id`` (of ``event.tenant``) in one
        transaction.

        Returns False, without calling ``write``, when the id was already recorded. If
        ``write`` raises, nothing is committed. ``write`` runs on the store's thread and
        must not commit or begin transactions itself.
        """
        key = (group, event.tenant or "", event.id)
        return await self._db.run(self._apply, key, write, event)

    async def close(self) -> None:
        await self._db.close()

    def _seen(self, conn: sqlite3.Connection, key: Key) -> bool:
        row = conn.execute(
            "SELECT marked_at FROM processed_ids WHERE grp = ? AND tenant = ? AND event_id = ?",
            key,
        ).fetchone()
        return row is not None and row[0] > self.clock() - self.max_age

    def _apply(
        self, conn: sqlite3.Connection, key: Key, write: Write | None, event: Event | None
    ) -> bool:
        conn.execute("BEGIN IMMEDIATE")
        try:
            applied = self._record(conn, key, write, event)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return applied

    def _record(
        self, conn: sqlite3.Connection, key: Key, write: Write | None, event: Event | None
    ) -> bool:
        if write is not None and self._seen(conn, key):
            return False
        if write is not None and event is not None:
            write(conn, event)
        conn.execute(
            "INSERT OR REPLACE INTO processed_ids (grp, tenant, event_id, marked_at)"
            " VALUES (?, ?, ?, ?)",
            (*key, self.clock()),
        )
        self._marks += 1
        if self._marks % self.trim_every == 0:
            self._trim(conn, key[0])
        return True

    def _trim(self, conn: sqlite3.Connection, group: str) -> None:
        conn.execute(
            "DELETE FROM processed_ids WHERE grp = ? AND marked_at <= ?",
            (group, self.clock() - self.max_age),
        )
        conn.execute(
            "DELETE FROM processed_ids WHERE grp = ? AND (tenant, event_id) IN (SELECT tenant,"
            " event_id FROM processed_ids WHERE grp = ? ORDER BY marked_at DESC LIMIT -1 OFFSET ?)",
            (group, group, self.max_entries),
        )


def _init(conn: sqlite3.Connection) -> None:
    for statement in SCHEMA:
        conn.execute(statement)
