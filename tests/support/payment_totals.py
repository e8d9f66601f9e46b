"""An aggregate kept where the idempotency check is: per-account totals of payments.

With the SQLite store the totals live in the store's file and are updated in the same
transaction that records the event id; with the Redis store they are hashes updated in the
same MULTI/EXEC. Either way a payment counts exactly once, whatever crashes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path

from ailayer.events import Event, IdempotencyStore, open_idempotency_store
from ailayer.events.idempotency.redis import RedisIdempotencyStore
from ailayer.events.idempotency.sqlite import SqliteIdempotencyStore

GROUP = "workers"
ACCOUNTS = 4


def payment(n: int) -> tuple[str, int]:
    """Event ``n`` pays ``n + 1`` into account ``acct-(n % 4)``."""
    return f"acct-{n % ACCOUNTS}", n + 1


def expected(total: int) -> dict[str, tuple[int, int]]:
    """Per account: (sum of amounts, number of payments)."""
    sums: dict[str, tuple[int, int]] = {}
    for n in range(total):
        account, amount = payment(n)
        before = sums.get(account, (0, 0))
        sums[account] = (before[0] + amount, before[1] + 1)
    return sums


def _sqlite_write(conn: sqlite3.Connection, event: Event) -> None:
    account, amount = payment(event.data["n"])
    conn.execute(
        "CREATE TABLE IF NOT EXISTS totals (account TEXT PRIMARY KEY, amount INT, events INT)"
    )
    conn.execute(
        "INSERT INTO totals VALUES (?, ?, 1) ON CONFLICT (account) DO UPDATE"
        " SET amount = amount + excluded.amount, events = events + 1",
        (account, amount),
    )


def redis_totals_key(topic: str) -> str:
    return f"ailayer-test:totals:{topic}"


def applier(store: IdempotencyStore, topic: str) -> Callable[[Event], Awaitable[bool]]:
    """``apply(event)``: the payment added to the totals once; False if already applied."""
    if isinstance(store, SqliteIdempotencyStore):
        return lambda event: store.apply(GROUP, event, _sqlite_write)
    assert isinstance(store, RedisIdempotencyStore)
    key = redis_totals_key(topic)

    def write(pipe, event: Event) -> None:  # type: ignore[no-untyped-def]
        account, amount = payment(event.data["n"])
        pipe.hincrby(key, f"{account}:amount", amount)
        pipe.hincrby(key, f"{account}:events", 1)

    return lambda event: store.apply(GROUP, event, write)


async def totals(store_url: str, topic: str) -> dict[str, tuple[int, int]]:
    store = open_idempotency_store(store_url)
    try:
        if isinstance(store, SqliteIdempotencyStore):
            rows = sqlite3.connect(store.path).execute("SELECT * FROM totals").fetchall()
            return {account: (amount, events) for account, amount, events in rows}
        assert isinstance(store, RedisIdempotencyStore)
        raw = await store.redis.hgetall(redis_totals_key(topic))
        flat = {k.decode(): int(v) for k, v in raw.items()}
        accounts = {name.rsplit(":", 1)[0] for name in flat}
        return {a: (flat[f"{a}:amount"], flat[f"{a}:events"]) for a in accounts}
    finally:
        await store.close()


async def forget(store_url: str, topic: str) -> None:
    store = open_idempotency_store(store_url)
    if isinstance(store, RedisIdempotencyStore):
        await store.forget(GROUP)
        await store.redis.delete(redis_totals_key(topic))
    await store.close()


def store_url_for(backend_name: str, tmp_path: Path) -> str:
    """Redis keeps its processed ids in Redis; the others in a SQLite file."""
    if backend_name == "redis":
        return "redis://127.0.0.1:6379/0"
    return f"sqlite:///{tmp_path / 'idempotency.db'}"
