"""The Redis idempotency store against the real Redis: bounds, and apply exactly once."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from ailayer.events import new_event
from ailayer.events.idempotency.redis import RedisIdempotencyStore, index_key

pytestmark = pytest.mark.integration

URL = "redis://127.0.0.1:6379/0"


def _scenario(test) -> None:  # type: ignore[no-untyped-def]
    async def main() -> None:
        group = f"g-{uuid.uuid4().hex[:8]}"
        store = RedisIdempotencyStore(URL, max_entries=3, trim_every=1)
        try:
            await test(store, group)
        finally:
            await store.forget(group)
            await store.redis.delete(f"ailayer-test:{group}")
            await store.close()

    asyncio.run(main())


def test_seen_after_mark_and_bounded_by_count() -> None:
    async def test(store: RedisIdempotencyStore, group: str) -> None:
        assert not await store.seen(group, "e0")
        for n in range(5):
            await store.mark(group, f"e{n}")
        assert [await store.seen(group, f"e{n}") for n in range(5)] == [False] * 2 + [True] * 3
        assert await store.redis.zcard(index_key(group)) == 3
        assert not await store.seen("other", "e4")

    _scenario(test)


def test_markers_expire_after_max_age() -> None:
    async def test(store: RedisIdempotencyStore, group: str) -> None:
        store.max_age = 60
        await store.mark(group, "e1")
        ttl = await store.redis.ttl(f"{index_key(group)}:e1")
        assert 0 < ttl <= 60

    _scenario(test)


def test_concurrent_applies_of_one_event_apply_it_once() -> None:
    async def test(store: RedisIdempotencyStore, group: str) -> None:
        event = new_event("payment.created", "/billing", {"amount": 5}, tenant="acme")
        key = f"ailayer-test:{group}"

        def write(pipe, e) -> None:  # type: ignore[no-untyped-def]
            pipe.incrby(key, e.data["amount"])

        others = [RedisIdempotencyStore(URL) for _ in range(4)]
        results = await asyncio.gather(*(s.apply(group, event, write) for s in [store, *others]))
        for other in others:
            await other.close()
        assert sorted(results) == [False] * 4 + [True]
        assert int(await store.redis.get(key)) == 5
        assert await store.seen(group, event.id)

    _scenario(test)
