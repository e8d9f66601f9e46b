"""Processed-id stores: seen after mark, groups and tenants apart, retention bounded by count
and age."""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from ailayer.core.errors import InvalidInput
from ailayer.events import open_idempotency_store
from ailayer.events.idempotency.memory import MemoryIdempotencyStore
from ailayer.events.idempotency.sqlite import SqliteIdempotencyStore
from tests.support.events import events


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _stores(tmp_path: Path, clock: Clock, **bounds: float) -> list:
    return [
        MemoryIdempotencyStore(clock=clock, **bounds),  # type: ignore[arg-type]
        SqliteIdempotencyStore(tmp_path / "idem.db", clock=clock, trim_every=1, **bounds),  # type: ignore[arg-type]
    ]


def test_seen_after_mark_per_group(tmp_path: Path) -> None:
    async def scenario() -> None:
        for store in _stores(tmp_path, Clock()):
            assert not await store.seen("acme", "g1", "e1")
            await store.mark("acme", "g1", "e1")
            await store.mark("acme", "g1", "e1")  # idempotent
            assert await store.seen("acme", "g1", "e1")
            assert not await store.seen("acme", "g2", "e1")
            await store.close()

    asyncio.run(scenario())


def test_equal_ids_of_two_tenants_are_kept_apart(tmp_path: Path) -> None:
    async def scenario() -> None:
        for store in _stores(tmp_path, Clock()):
            await store.mark("tenant-b", "g", "pay-2001")
            assert await store.seen("tenant-b", "g", "pay-2001")
            assert not await store.seen("tenant-a", "g", "pay-2001")
            await store.close()

    asyncio.run(scenario())


def test_tenant_and_id_cannot_run_into_each_other(tmp_path: Path) -> None:
    """A separator inside a tenant or an id never makes two records one."""

    async def scenario() -> None:
        for store in _stores(tmp_path, Clock()):
            await store.mark("a:b", "g", "c")
            assert not await store.seen("a", "g", "b:c")
            await store.close()

    asyncio.run(scenario())


def test_sqlite_apply_records_the_events_tenant(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = SqliteIdempotencyStore(tmp_path / "idem.db")
        (theirs,) = events(1, tenant="tenant-b")
        ours = replace(theirs, tenant="tenant-a")
        assert await store.apply("g", theirs, _add) is True
        assert await store.apply("g", ours, _add) is True  # not B's duplicate
        assert await store.apply("g", ours, _add) is False
        assert await store.seen("tenant-a", "g", theirs.id)
        await store.close()

    asyncio.run(scenario())


def test_sqlite_records_of_the_old_layout_are_ignored(tmp_path: Path) -> None:
    """A file written before ids were kept per tenant: its rows (group and id only, any
    tenant) neither count as duplicates nor get in the way; new records go beside them."""
    path = tmp_path / "idem.db"
    old = sqlite3.connect(path)
    old.execute(
        "CREATE TABLE processed_events (grp TEXT NOT NULL, event_id TEXT NOT NULL,"
        " marked_at REAL NOT NULL, PRIMARY KEY (grp, event_id)) WITHOUT ROWID"
    )
    old.execute("INSERT INTO processed_events VALUES ('g', 'pay-2001', 1000.0)")
    old.commit()
    old.close()

    async def scenario() -> None:
        store = SqliteIdempotencyStore(path, clock=Clock())
        assert not await store.seen("tenant-a", "g", "pay-2001")
        await store.mark("tenant-a", "g", "pay-2001")
        assert await store.seen("tenant-a", "g", "pay-2001")
        await store.close()

    asyncio.run(scenario())


def test_retention_keeps_the_newest_max_entries(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = Clock()
        for store in _stores(tmp_path, clock, max_entries=3):
            for n in range(5):
                clock.now += 1
                await store.mark("acme", "g", f"e{n}")
            assert [await store.seen("acme", "g", f"e{n}") for n in range(5)] == [False, False] + [
                True
            ] * 3
            await store.close()

    asyncio.run(scenario())


def test_retention_forgets_ids_older_than_max_age(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = Clock()
        for store in _stores(tmp_path, clock, max_age=60):
            await store.mark("acme", "g", "old")
            clock.now += 61
            await store.mark("acme", "g", "new")
            assert not await store.seen("acme", "g", "old") and await store.seen("acme", "g", "new")
            await store.close()
        (rows,) = (
            sqlite3.connect(tmp_path / "idem.db")
            .execute("SELECT count(*) FROM processed_ids")
            .fetchone()
        )
        assert rows == 1  # the old row was deleted, not only hidden

    asyncio.run(scenario())


def _add(conn: sqlite3.Connection, event) -> None:  # type: ignore[no-untyped-def]
    conn.execute("CREATE TABLE IF NOT EXISTS totals (n INTEGER)")
    conn.execute("INSERT INTO totals VALUES (?)", (event.data["n"],))


def _fail(conn: sqlite3.Connection, event) -> None:  # type: ignore[no-untyped-def]
    _add(conn, event)
    raise ValueError("handler failed half-way")


def test_sqlite_apply_commits_the_effect_and_the_id_together(tmp_path: Path) -> None:
    path = tmp_path / "idem.db"

    async def scenario() -> None:
        one, two = SqliteIdempotencyStore(path), SqliteIdempotencyStore(path)
        first, second = events(2)
        with pytest.raises(ValueError):
            await one.apply("g", first, _fail)
        assert not await one.seen("acme", "g", first.id)  # rolled back: effect and id both absent
        assert await one.apply("g", first, _add) is True
        assert await two.apply("g", first, _add) is False  # another process sees it
        assert await two.apply("g", second, _add) is True
        await one.close()
        await two.close()

    asyncio.run(scenario())
    assert sqlite3.connect(path).execute("SELECT n FROM totals ORDER BY n").fetchall() == [
        (0,),
        (1,),
    ]


def test_open_by_url(tmp_path: Path) -> None:
    store = open_idempotency_store(f"sqlite:///{tmp_path}/i.db?max_entries=5&max_age=9")
    assert isinstance(store, SqliteIdempotencyStore)
    assert (store.path, store.max_entries, store.max_age) == (tmp_path / "i.db", 5, 9.0)
    memory = open_idempotency_store("memory://?max_entries=2")
    assert isinstance(memory, MemoryIdempotencyStore) and memory.max_entries == 2
    with pytest.raises(InvalidInput, match="memory://, sqlite://, redis://"):
        open_idempotency_store("kafka://x")
