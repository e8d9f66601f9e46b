"""SQLite online store: the embedded default (``sqlite:///.ailayer/online.db``).

One WAL-mode file, one connection per thread. A batch write is one transaction of
upserts whose ``WHERE`` keeps the newer row; a batch read is one query whose keys arrive
as a single JSON array parameter, so any number of keys is one statement.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path

import orjson

from ailayer.core.errors import BackendUnavailable, InvalidInput
from ailayer.core.files import private_file
from ailayer.features.stores.online import (
    OnlineRow,
    OnlineValue,
    Read,
    UsRow,
    fresh,
    now_us,
    select_values,
    us_rows,
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS online_values (
    tenant TEXT NOT NULL,
    view TEXT NOT NULL,
    entity_key TEXT NOT NULL,
    event_us INTEGER NOT NULL,
    payload TEXT NOT NULL,
    PRIMARY KEY (tenant, view, entity_key)
) WITHOUT ROWID
"""

UPSERT = """
INSERT INTO online_values (tenant, view, entity_key, event_us, payload) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (tenant, view, entity_key) DO UPDATE
SET event_us = excluded.event_us, payload = excluded.payload
WHERE excluded.event_us >= online_values.event_us
"""

READ = """
SELECT entity_key, event_us, payload FROM online_values
WHERE tenant = ? AND view = ? AND entity_key IN (SELECT value FROM json_each(?))
"""


class SqliteOnlineStore:
    def __init__(self, path: str | Path, busy_timeout_ms: int = 30_000) -> None:
        self.path = Path(path)
        self.busy_timeout_ms = busy_timeout_ms
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    @classmethod
    def from_url(cls, url: str) -> SqliteOnlineStore:
        path = url.removeprefix("sqlite:///")
        if path == url or not path or path == ":memory:":
            raise InvalidInput(
                f"online_store must be sqlite:///path/to/file.db; got {url!r}", field="online_store"
            )
        return cls(path)

    def _connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            private_file(self.path)  # 0600, and so its -wal and -shm
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            conn.execute(f"PRAGMA busy_timeout={self.busy_timeout_ms}")
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(SCHEMA)
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    @contextmanager
    def _translated(self) -> Iterator[sqlite3.Connection]:
        try:
            yield self._connection()
        except sqlite3.OperationalError as exc:
            raise BackendUnavailable(
                f"the online store is unavailable ({exc}); retry shortly"
            ) from exc

    def write_batch(
        self, tenant_id: str, view: str, rows: Sequence[OnlineRow], ttl: timedelta | None = None
    ) -> None:
        self.write_batch_us(tenant_id, view, us_rows(rows), ttl)

    def write_batch_us(
        self, tenant_id: str, view: str, rows: Sequence[UsRow], ttl: timedelta | None = None
    ) -> None:
        params = [
            (tenant_id, view, key, event_us, orjson.dumps(values).decode())
            for key, event_us, values in rows
        ]
        with self._translated() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany(UPSERT, params)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def read_batch(
        self,
        tenant_id: str,
        view: str,
        entity_keys: Sequence[str],
        features: Sequence[str],
        ttl: timedelta | None = None,
        now: datetime | None = None,
    ) -> list[OnlineValue | None]:
        with self._translated() as conn:
            rows = conn.execute(READ, (tenant_id, view, orjson.dumps(list(entity_keys)).decode()))
            found = {key: (event_us, payload) for key, event_us, payload in rows}
        at = now_us(now)
        answers: list[OnlineValue | None] = []
        for key in entity_keys:
            hit = found.get(key)
            if hit is None or not fresh(hit[0], ttl, at):
                answers.append(None)
            else:
                answers.append(select_values(hit[0], orjson.loads(hit[1]), features))
        return answers

    def read_many(self, reads: Sequence[Read]) -> list[list[OnlineValue | None]]:
        """One query per read: a local file has no round trip to save."""
        return [
            self.read_batch(r.tenant_id, r.view, r.entity_keys, r.features, r.ttl, r.now)
            for r in reads
        ]

    def delete_view(self, tenant_id: str, view: str) -> None:
        with self._translated() as conn:
            conn.execute(
                "DELETE FROM online_values WHERE tenant = ? AND view = ?", (tenant_id, view)
            )

    def delete_keys(self, tenant_id: str, view: str, entity_keys: Sequence[str]) -> int:
        keys = orjson.dumps(list(entity_keys)).decode()
        with self._translated() as conn:
            cursor = conn.execute(
                "DELETE FROM online_values WHERE tenant = ? AND view = ? "
                "AND entity_key IN (SELECT value FROM json_each(?))",
                (tenant_id, view, keys),
            )
            return cursor.rowcount

    def views(self, tenant_id: str) -> list[str]:
        with self._translated() as conn:
            rows = conn.execute(
                "SELECT DISTINCT view FROM online_values WHERE tenant = ? ORDER BY view",
                (tenant_id,),
            ).fetchall()
        return [view for (view,) in rows]

    def scan(self, tenant_id: str, view: str) -> Iterator[tuple[str, OnlineValue]]:
        with self._translated() as conn:
            rows = conn.execute(
                "SELECT entity_key, event_us, payload FROM online_values "
                "WHERE tenant = ? AND view = ? ORDER BY entity_key",
                (tenant_id, view),
            ).fetchall()
        for key, event_us, payload in rows:
            yield key, OnlineValue(event_us, orjson.loads(payload))

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
        self._local = threading.local()
