"""The outbox's disk buffer: a bounded FIFO of (topic, event) rows in one SQLite file.

Only one process may use a spool file at a time (it is opened in exclusive locking mode;
a second opener gets ``BackendUnavailable``), so a drain never races another. What a dead
process left behind is drained by the next process that opens the file. WAL with
``synchronous=NORMAL``: a committed batch survives the process dying, not a power cut.
All calls are blocking; the outbox runs them on its own worker thread. A data subject
delete reaches a spool in use through an erase request beside it, which the process
holding the spool honours (``erasure.py``).
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from ailayer.core.errors import BackendUnavailable
from ailayer.core.files import private_file
from ailayer.events import erasure
from ailayer.events.envelope import Event

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    " topic TEXT NOT NULL, body BLOB NOT NULL)"
)


class Spool:
    """At most ``capacity`` events on disk, oldest first."""

    def __init__(self, path: Path, capacity: int) -> None:
        self.path = path
        self.capacity = capacity
        self._conn: sqlite3.Connection | None = None
        self.depth = 0

    def open(self) -> int:
        """Open (creating) the file; returns how many events it already holds."""
        private_file(self.path)  # 0600, and so its -wal and -shm
        try:
            conn = sqlite3.connect(self.path, timeout=1, isolation_level=None)
            conn.execute("PRAGMA locking_mode=EXCLUSIVE")
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(SCHEMA)
            (self.depth,) = conn.execute("SELECT count(*) FROM outbox").fetchone()
        except sqlite3.OperationalError as exc:
            raise BackendUnavailable(f"the outbox file {self.path} cannot be used: {exc}") from exc
        self._conn = conn
        return self.depth

    @property
    def room(self) -> int:
        return max(0, self.capacity - self.depth)

    def append(self, items: list[tuple[str, Event]]) -> int:
        """Store as many of ``items`` as fit, in order; returns how many were stored."""
        stored = items[: self.room]
        if stored:
            with self._transaction() as conn:
                conn.executemany(
                    "INSERT INTO outbox (topic, body) VALUES (?, ?)",
                    [(topic, event.to_json()) for topic, event in stored],
                )
            self.depth += len(stored)
        return len(stored)

    def peek(self, limit: int) -> list[tuple[int, str, Event]]:
        rows = self._db.execute(
            "SELECT seq, topic, body FROM outbox ORDER BY seq LIMIT ?", (limit,)
        ).fetchall()
        return [(seq, topic, Event.from_json(body)) for seq, topic, body in rows]

    def remove_through(self, seq: int) -> None:
        """Delete every row up to and including ``seq`` (after they were published)."""
        with self._transaction() as conn:
            deleted = conn.execute("DELETE FROM outbox WHERE seq <= ?", (seq,)).rowcount
        self.depth -= deleted

    def rows(self) -> list[tuple[int, str, Event]]:
        """Every spooled (seq, topic, event), oldest first: a data subject request's read."""
        return self.peek(-1)

    def remove(self, seqs: list[int]) -> int:
        """Delete these rows (a data subject's events); how many were still there."""
        if not seqs:
            return 0
        with self._transaction() as conn:
            deleted = conn.execute(
                "DELETE FROM outbox WHERE seq IN (SELECT value FROM json_each(?))",
                (json.dumps(seqs),),
            ).rowcount
        self.depth -= deleted
        return deleted

    def honour_erasures(self) -> int:
        """Answer the erase requests left beside the file (``erasure.py``): remove the
        events each matches; how many went in all."""
        requests = erasure.pending(self.path)
        total = 0
        for request in requests:
            removed = self.remove([seq for seq, _, event in self.rows() if request.matches(event)])
            erasure.finish(self.path, request.id, removed)
            total += removed
        return total

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    @property
    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError("the spool is not open")
        return self._conn

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)


class _Transaction:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type: object, *_: object) -> None:
        self.conn.execute("ROLLBACK" if exc_type else "COMMIT")
