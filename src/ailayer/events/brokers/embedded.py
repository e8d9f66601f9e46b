"""``embedded://PATH``: a durable append-only log in one SQLite file (WAL).

Several processes on one machine may open the same file and share groups safely: every
fetch runs in a ``BEGIN IMMEDIATE`` transaction that hands out leases, so two consumers
never hold the same event at once.

- ``events``: the log, one row per event, ``seq`` increasing across all topics.
- ``groups``: per (topic, group) the cursor ``next_seq``: rows below it were handed out.
- ``pending``: per (topic, group) every handed-out event not yet acked, with its lease
  (consumer, token, ``visible_at``). A lease that expires, or a ``nack(delay)``, makes the
  row visible again; an ack deletes it. Rows held back for ordering wait here unleased.

Ordering: events with the same ``partitionkey`` are handed out one lease at a time: while an
earlier event of a key is leased to someone, or waiting out a nack delay, later events of
that key are not given to anyone. Different keys (and keyless events) flow in parallel.
A key is a tenant's (``pkey`` is ``scope.scoped(tenant, partitionkey)``): one tenant's
events never wait behind another's that happen to use the same key.

Options: ``?maxlen=N`` keeps about the newest N events per topic (default 1,000,000;
trimming drops the oldest even if a group has not read them, as Redis ``MAXLEN`` does).
SQLite calls run on one worker thread per bus, off the event loop.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from ailayer.core.errors import InvalidInput
from ailayer.events.brokers._url import split_options
from ailayer.events.bus import BaseBus, BaseSubscription, Batch, Delivery
from ailayer.events.envelope import Event
from ailayer.events.scope import scoped
from ailayer.events.sqlite_worker import SqliteWorker

DEFAULT_MAXLEN = 1_000_000
POLL_SECONDS = 0.05
TRIM_EVERY = 1000
SCAN_LIMIT = 1000

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL,
    pkey TEXT,
    body BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_topic ON events (topic, seq);
CREATE TABLE IF NOT EXISTS groups (
    topic TEXT NOT NULL,
    grp TEXT NOT NULL,
    next_seq INTEGER NOT NULL,
    PRIMARY KEY (topic, grp)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS pending (
    topic TEXT NOT NULL,
    grp TEXT NOT NULL,
    seq INTEGER NOT NULL,
    pkey TEXT,
    consumer TEXT,
    lease TEXT,
    visible_at REAL NOT NULL,
    attempts INTEGER NOT NULL,
    PRIMARY KEY (topic, grp, seq)
) WITHOUT ROWID;
"""


@dataclass(frozen=True)
class _Lease:
    seq: int
    attempt: int
    body: bytes


class EmbeddedBus(BaseBus):
    """The bus in one SQLite file; see the module docstring for how groups work."""

    def __init__(self, path: Path, *, maxlen: int = DEFAULT_MAXLEN) -> None:
        self.path = path
        self.maxlen = maxlen
        self._db = SqliteWorker(path, _init, f"the embedded bus at {path}", "ailayer-bus")
        self._published = 0

    @classmethod
    def from_url(cls, url: str) -> EmbeddedBus:
        url, options = split_options(url, {"maxlen": int})
        path = url.removeprefix("embedded://")
        if not path:
            raise InvalidInput("embedded:// needs a file path", field="event_bus")
        return cls(Path(path), **options)  # type: ignore[arg-type]

    async def _publish(self, topic: str, events: Sequence[Event]) -> None:
        rows = [(topic, _pkey(e), e.to_json()) for e in events]
        maxlen = self.maxlen if self._trim_due(len(rows)) else 0
        await self._db.run(_append, topic, rows, maxlen)

    def _trim_due(self, count: int) -> bool:
        before, self._published = self._published, self._published + count
        return before // TRIM_EVERY != self._published // TRIM_EVERY

    async def _subscribe(
        self, topic: str, group: str, consumer: str, ack_wait: float
    ) -> EmbeddedSubscription:
        await self._db.run(_ensure_group, topic, group)
        return EmbeddedSubscription(self, topic, group, consumer, ack_wait)

    async def _lag(self, topic: str, group: str) -> int:
        return await self._db.run(_lag, topic, group)

    async def _delete_topic(self, topic: str, groups: tuple[str, ...]) -> None:
        await self._db.run(_delete_topic, topic)

    async def _retained(self, topic: str) -> list[tuple[Any, Event]]:
        rows = await self._db.run(_retained, topic)
        return [(seq, Event.from_json(body)) for seq, body in rows]

    async def _forget(self, topic: str, handles: list[Any]) -> int:
        return await self._db.run(_forget, topic, [int(h) for h in handles])

    async def close(self) -> None:
        await self._db.close()


class EmbeddedSubscription(BaseSubscription):
    """One consumer of a group; polls the file every 50 ms while it waits."""

    def __init__(
        self, bus: EmbeddedBus, topic: str, group: str, consumer: str, ack_wait: float
    ) -> None:
        self.bus, self.topic, self.group, self.consumer = bus, topic, group, consumer
        self.ack_wait = ack_wait

    async def _fetch(self, max_messages: int, timeout: float) -> list[Delivery]:
        leases, token = await self._take_leases(max_messages, timeout)
        events = Event.batch_from_bus([lease.body for lease in leases])
        return [
            self._delivery(lease, token, event) for lease, event in zip(leases, events, strict=True)
        ]

    async def _fetch_batch(self, max_messages: int, timeout: float) -> Batch:
        """The leased bodies decoded with one ``orjson.loads``, no ``Event`` or
        ``Delivery`` per event."""
        leases, token = await self._take_leases(max_messages, timeout)
        bodies = Event.batch_bodies([lease.body for lease in leases])

        def deliver(i: int) -> Delivery:
            return self._delivery(leases[i], token, Event.from_bus_body(bodies[i]))

        attempts = [lease.attempt for lease in leases]
        handles = [(lease.seq, token) for lease in leases]
        return Batch(self, bodies, attempts, handles, deliver)

    async def _take_leases(self, max_messages: int, timeout: float) -> tuple[list[_Lease], str]:
        """Lease up to ``max_messages`` events, polling up to ``timeout`` s for some."""
        deadline = time.monotonic() + timeout
        while True:
            token = uuid.uuid4().hex
            leases = await self.bus._db.run(
                _lease, self.topic, self.group, self.consumer, token, max_messages, self.ack_wait
            )
            if leases or time.monotonic() >= deadline:
                return leases, token
            await asyncio.sleep(min(POLL_SECONDS, max(0.0, deadline - time.monotonic())))

    def _delivery(self, lease: _Lease, token: str, event: Event) -> Delivery:
        return Delivery(event, lease.attempt, owner=self, handle=(lease.seq, token))

    async def _ack(self, delivery: Delivery) -> None:
        await self.bus._db.run(_ack, self.topic, self.group, *delivery.handle)  # type: ignore[misc]

    async def _nack(self, delivery: Delivery, delay: float) -> None:
        seq, token = delivery.handle  # type: ignore[misc]
        await self.bus._db.run(_nack, self.topic, self.group, seq, token, delay)

    async def _ack_batches(self, todo: list[tuple[Batch, Sequence[int]]]) -> None:
        """Delete the batches' leases in one transaction (one fsync)."""
        rows = [
            (self.topic, self.group, *batch.handles[i])  # type: ignore[misc]
            for batch, indices in todo
            for i in indices
        ]
        await self.bus._db.run(_ack_many, rows)

    async def _ack_many(self, deliveries: list[Delivery]) -> None:
        """Delete the deliveries' leases in one transaction (one fsync)."""
        rows = [(self.topic, self.group, *d.handle) for d in deliveries]  # type: ignore[misc]
        await self.bus._db.run(_ack_many, rows)

    async def close(self) -> None:
        """Nothing to release: unacked leases simply expire after ``ack_wait``."""


class _transaction:
    """``BEGIN IMMEDIATE`` … ``COMMIT``: take the write lock up front, roll back on error."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type: object, *_: object) -> None:
        self.conn.execute("ROLLBACK" if exc_type else "COMMIT")


def _pkey(event: Event) -> str | None:
    """The ordering key: the event's ``partitionkey``, scoped by its tenant."""
    return None if event.partitionkey is None else scoped(event.tenant, event.partitionkey)


def _init(conn: sqlite3.Connection) -> None:
    with _transaction(conn):
        _create_schema(conn)


def _create_schema(conn: sqlite3.Connection) -> None:
    for statement in SCHEMA.split(";"):
        if statement.strip():
            conn.execute(statement)


def _append(conn: sqlite3.Connection, topic: str, rows: list[tuple], maxlen: int) -> None:
    """Append ``rows`` in one commit; with ``maxlen``, also drop all but the newest."""
    with _transaction(conn):
        conn.executemany("INSERT INTO events (topic, pkey, body) VALUES (?, ?, ?)", rows)
        if maxlen:
            conn.execute(
                "DELETE FROM events WHERE topic = ? AND seq < (SELECT seq FROM events"
                " WHERE topic = ? ORDER BY seq DESC LIMIT 1 OFFSET ?)",
                (topic, topic, maxlen - 1),
            )


def _ensure_group(conn: sqlite3.Connection, topic: str, group: str) -> None:
    with _transaction(conn):
        conn.execute(
            "INSERT OR IGNORE INTO groups (topic, grp, next_seq) VALUES (?, ?, 0)", (topic, group)
        )


def _lease(
    conn: sqlite3.Connection,
    topic: str,
    group: str,
    consumer: str,
    token: str,
    limit: int,
    ack_wait: float,
) -> list[_Lease]:
    """Hand out up to ``limit`` events: visible pending ones first, then new ones.
    Set-at-a-time: a few statements per fetch, not a few per event."""
    now = time.time()
    lease = (consumer, token, now + ack_wait)
    with _transaction(conn):
        blocked: set[str] = set()
        taken = _take_pending(conn, topic, group, now, limit, blocked)
        if taken:
            conn.executemany(
                "UPDATE pending SET consumer = ?, lease = ?, visible_at = ?,"
                " attempts = attempts + 1 WHERE topic = ? AND grp = ? AND seq = ?",
                [(*lease, topic, group, seq) for seq in taken],
            )
        leases = _read_leases(conn, topic, group, taken)
        return leases + _take_new(conn, topic, group, limit - len(taken), blocked, lease)


def _take_pending(
    conn: sqlite3.Connection, topic: str, group: str, now: float, limit: int, blocked: set[str]
) -> list[int]:
    """Visible pending rows in log order, skipping keys with an earlier row still held.
    Rows that are neither visible nor keyed change nothing, so SQLite skips them."""
    taken: list[int] = []
    rows = conn.execute(
        "SELECT seq, pkey, visible_at FROM pending WHERE topic = ? AND grp = ?"
        " AND (visible_at <= ? OR pkey IS NOT NULL) ORDER BY seq",
        (topic, group, now),
    )
    for seq, pkey, visible_at in rows:
        if len(taken) == limit:
            break
        if visible_at <= now and pkey not in blocked:
            taken.append(seq)
        elif pkey is not None:
            blocked.add(pkey)
    return taken


def _take_new(
    conn: sqlite3.Connection,
    topic: str,
    group: str,
    limit: int,
    blocked: set[str],
    lease: tuple[str, str, float],
) -> list[_Lease]:
    """Move the cursor over new events and lease them (first attempt); those of a
    blocked key wait in ``pending`` unleased."""
    if limit <= 0:
        return []
    (cursor,) = conn.execute(
        "SELECT next_seq FROM groups WHERE topic = ? AND grp = ?", (topic, group)
    ).fetchone()
    rows = conn.execute(
        "SELECT seq, pkey, body FROM events WHERE topic = ? AND seq >= ? ORDER BY seq LIMIT ?",
        (topic, cursor, SCAN_LIMIT),
    ).fetchall()
    leased: list[_Lease] = []
    inserts: list[tuple] = []
    for seq, pkey, body in rows:
        if len(leased) == limit:
            break
        cursor = seq + 1
        if pkey in blocked:  # also keeps later events of this key behind this one
            inserts.append((topic, group, seq, pkey, None, None, 0, 0))
        else:
            inserts.append((topic, group, seq, pkey, *lease, 1))
            leased.append(_Lease(seq, 1, body))
    if inserts:
        conn.executemany(
            "INSERT INTO pending (topic, grp, seq, pkey, consumer, lease, visible_at, attempts)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            inserts,
        )
        conn.execute(
            "UPDATE groups SET next_seq = ? WHERE topic = ? AND grp = ?", (cursor, topic, group)
        )
    return leased


def _read_leases(
    conn: sqlite3.Connection, topic: str, group: str, taken: list[int]
) -> list[_Lease]:
    leases = []
    for seq in taken:
        row = conn.execute(
            "SELECT p.attempts, e.body FROM pending p LEFT JOIN events e ON e.seq = p.seq"
            " WHERE p.topic = ? AND p.grp = ? AND p.seq = ?",
            (topic, group, seq),
        ).fetchone()
        if row[1] is None:  # trimmed away by maxlen before this group read it
            conn.execute(
                "DELETE FROM pending WHERE topic = ? AND grp = ? AND seq = ?", (topic, group, seq)
            )
            continue
        leases.append(_Lease(seq, row[0], row[1]))
    return leases


def _ack(conn: sqlite3.Connection, topic: str, group: str, seq: int, token: str) -> None:
    _ack_many(conn, [(topic, group, seq, token)])


def _ack_many(conn: sqlite3.Connection, rows: list[tuple[str, str, int, str]]) -> None:
    """Delete every (topic, group, seq, lease) row still held under that lease, in one commit."""
    with _transaction(conn):
        conn.executemany(
            "DELETE FROM pending WHERE topic = ? AND grp = ? AND seq = ? AND lease = ?", rows
        )


def _nack(
    conn: sqlite3.Connection, topic: str, group: str, seq: int, token: str, delay: float
) -> None:
    with _transaction(conn):
        conn.execute(
            "UPDATE pending SET consumer = NULL, lease = NULL, visible_at = ?"
            " WHERE topic = ? AND grp = ? AND seq = ? AND lease = ?",
            (time.time() + delay, topic, group, seq, token),
        )


def _lag(conn: sqlite3.Connection, topic: str, group: str) -> int:
    row = conn.execute(
        "SELECT next_seq FROM groups WHERE topic = ? AND grp = ?", (topic, group)
    ).fetchone()
    cursor = row[0] if row else 0
    (in_flight,) = conn.execute(
        "SELECT count(*) FROM pending WHERE topic = ? AND grp = ?", (topic, group)
    ).fetchone()
    (unread,) = conn.execute(
        "SELECT count(*) FROM events WHERE topic = ? AND seq >= ?", (topic, cursor)
    ).fetchone()
    return in_flight + unread


def _retained(conn: sqlite3.Connection, topic: str) -> list[tuple[int, bytes]]:
    return conn.execute(
        "SELECT seq, body FROM events WHERE topic = ? ORDER BY seq", (topic,)
    ).fetchall()


def _forget(conn: sqlite3.Connection, topic: str, seqs: list[int]) -> int:
    listed = orjson.dumps(seqs).decode()
    with _transaction(conn):
        conn.execute(
            "DELETE FROM pending WHERE topic = ? AND seq IN (SELECT value FROM json_each(?))",
            (topic, listed),
        )
        return conn.execute(
            "DELETE FROM events WHERE topic = ? AND seq IN (SELECT value FROM json_each(?))",
            (topic, listed),
        ).rowcount


def _delete_topic(conn: sqlite3.Connection, topic: str) -> None:
    with _transaction(conn):
        for table in ("events", "groups", "pending"):
            conn.execute(f"DELETE FROM {table} WHERE topic = ?", (topic,))
