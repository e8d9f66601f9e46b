"""The hot-path cache: stale entries are served while exactly one refresh runs."""

from __future__ import annotations

import asyncio
import threading
import time

from ailayer.core.cache import RefreshingCache
from ailayer.core.errors import BackendUnavailable, NotFound


def test_expired_entry_is_served_while_one_refresh_runs() -> None:
    cache: RefreshingCache[int] = RefreshingCache(ttl=0.05, stale=10)
    calls: list[int] = []
    gate = threading.Event()

    def slow_load() -> int:
        calls.append(1)
        gate.wait(2)
        return len(calls) + 100

    async def scenario() -> list[int]:
        cache.put("k", 1)
        await asyncio.sleep(0.06)
        served = [await cache.get("k", slow_load) for _ in range(50)]
        gate.set()
        for _ in range(100):
            if cache.fresh("k") is not None:
                break
            await asyncio.sleep(0.01)
        return served

    served = asyncio.run(scenario())
    assert served == [1] * 50
    assert len(calls) == 1
    assert cache.fresh("k") == 101


def test_missing_entry_is_loaded_and_kept() -> None:
    cache: RefreshingCache[str] = RefreshingCache(ttl=10)
    assert asyncio.run(cache.get("k", lambda: "v")) == "v"
    assert cache.fresh("k") == "v"


def test_refresh_failures_keep_or_drop_the_entry() -> None:
    def down() -> int:
        raise BackendUnavailable("db down")

    def gone() -> int:
        raise NotFound("gone")

    async def refresh_with(loader) -> int | None:  # type: ignore[no-untyped-def]
        cache: RefreshingCache[int] = RefreshingCache(ttl=0.01, stale=10)
        cache.put("k", 1)
        await asyncio.sleep(0.02)
        assert await cache.get("k", loader) == 1
        await asyncio.sleep(0.05)
        return cache._entries.get("k", (0, None))[1]

    assert asyncio.run(refresh_with(down)) == 1  # served stale through the outage
    assert asyncio.run(refresh_with(gone)) is None  # next request loads and gets the error


def test_zero_ttl_caches_nothing() -> None:
    cache: RefreshingCache[int] = RefreshingCache(ttl=0)
    cache.put("k", 1)
    assert cache.fresh("k") is None
    assert cache.load("k", lambda: 2) == 2
    started = time.monotonic()
    assert asyncio.run(cache.get("k", lambda: 3)) == 3
    assert time.monotonic() - started < 1


def test_an_entry_too_stale_is_not_served_its_requests_wait_for_one_load() -> None:
    """Past ``ttl + stale`` (an idle process: no request triggered a refresh in time) the
    stale entry is not served: a change older than that bound is always seen."""
    cache: RefreshingCache[int] = RefreshingCache(ttl=0.05, stale=0.05)
    calls: list[int] = []

    def load() -> int:
        calls.append(1)
        time.sleep(0.05)  # the burst below arrives while it runs
        return 2

    async def scenario() -> list[int]:
        cache.put("k", 1)
        await asyncio.sleep(0.15)
        return list(await asyncio.gather(*(cache.get("k", load) for _ in range(20))))

    assert asyncio.run(scenario()) == [2] * 20
    assert len(calls) == 1  # the burst shared one load
    assert cache.fresh("k") == 2


def test_an_entry_too_stale_is_still_served_through_an_outage() -> None:
    cache: RefreshingCache[int] = RefreshingCache(ttl=0.05, stale=0.05)
    calls: list[int] = []

    def down() -> int:
        calls.append(1)
        raise BackendUnavailable("db down")

    async def scenario() -> list[int]:
        cache.put("k", 1)
        await asyncio.sleep(0.15)
        return [await cache.get("k", down) for _ in range(5)]

    assert asyncio.run(scenario()) == [1] * 5
    assert len(calls) == 1  # kept as if fresh for a ttl: no lookup per request meanwhile


def test_an_entry_too_stale_whose_load_fails_raises_and_is_dropped() -> None:
    cache: RefreshingCache[int] = RefreshingCache(ttl=0.05, stale=0.05)

    def gone() -> int:
        raise NotFound("gone")

    async def scenario() -> None:
        cache.put("k", 1)
        await asyncio.sleep(0.15)
        await cache.get("k", gone)

    try:
        asyncio.run(scenario())
    except NotFound:
        pass
    else:
        raise AssertionError("a failed load of a too-stale entry must raise")
    assert "k" not in cache._entries
