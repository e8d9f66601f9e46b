"""The Redis idempotency store against the real Redis: bounds, and apply exactly once."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace

import pytest

from ailayer.events import new_event
from ailayer.events.idempotency.redis import RedisIdempotencyStore, index_key, marker_key

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
        assert not await store.seen("acme", group, "e0")
        for n in range(5):
            await store.mark("acme", group, f"e{n}")
        assert [await store.seen("acme", group, f"e{n}") for n in range(5)] == [False] * 2 + [
            True
        ] * 3
        assert await store.redis.zcard(index_key(group)) == 3
        assert not await store.seen("acme", "other", "e4")
        assert not await store.seen("globex", group, "e4")

    _scenario(test)


def test_markers_expire_after_max_age() -> None:
    async def test(store: RedisIdempotencyStore, group: str) -> None:
        store.max_age = 60
        await store.mark("acme", group, "e1")
        ttl = await store.redis.ttl(marker_key("acme", group, "e1"))
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
        assert await store.seen("acme", group, event.id)

    _scenario(test)


def test_equal_ids_of_two_tenants_are_kept_apart() -> None:
    async def test(store: RedisIdempotencyStore, group: str) -> None:
        await store.mark("tenant-b", group, "pay-2001")
        assert await store.seen("tenant-b", group, "pay-2001")
        assert not await store.seen("tenant-a", group, "pay-2001")
        await store.mark("a:b", group, "c")  # a separator in the tenant changes nothing
        assert not await store.seen("a", group, "b:c")
        theirs = new_event("payment.created", "/billing", {"amount": 5}, tenant="tenant-b")
        ours = replace(theirs, tenant="tenant-a")
        assert await store.apply(group, theirs, lambda pipe, e: None) is True
        assert await store.apply(group, ours, lambda pipe, e: None) is True
        assert await store.apply(group, ours, lambda pipe, e: None) is False

    _scenario(test)


def test_trimming_and_forget_cover_every_tenant() -> None:
    async def test(store: RedisIdempotencyStore, group: str) -> None:
        for n in range(5):
            await store.mark(f"tenant-{n % 2}", group, f"e{n}")
        assert await store.redis.zcard(index_key(group)) == 3  # max_entries per group
        assert [await store.seen(f"tenant-{n % 2}", group, f"e{n}") for n in range(5)] == [
            False, False, True, True, True
        ]  # fmt: skip
        await store.forget(group)
        assert await store.redis.keys(f"{index_key(group)}*") == []

    _scenario(test)


def test_markers_of_the_old_layout_are_ignored() -> None:
    """Keys written before ids were kept per tenant (``ailayer:idem:{group}:<id>``, any
    tenant) do not make a tenant's new event a duplicate; they expire on their own."""

    async def test(store: RedisIdempotencyStore, group: str) -> None:
        old_index, old_marker = f"ailayer:idem:{{{group}}}", f"ailayer:idem:{{{group}}}:pay-2001"
        await store.redis.set(old_marker, 1, ex=60)
        await store.redis.zadd(old_index, {"pay-2001": 1.0})
        try:
            assert not await store.seen("tenant-a", group, "pay-2001")
            await store.mark("tenant-a", group, "pay-2001")
            assert await store.seen("tenant-a", group, "pay-2001")
        finally:
            await store.redis.delete(old_index, old_marker)

    _scenario(test)
