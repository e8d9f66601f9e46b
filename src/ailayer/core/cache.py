"""A small TTL cache that serves a stale entry while one background refresh runs.

Hot paths (key → principal, endpoint → model version) must not wait on the database each
time an entry expires, and must not send every waiting request to the database at once:
for ``stale`` seconds past its TTL an entry is still served, and exactly one refresh per
key runs in a worker thread. Beyond that (a process that was idle when the entry expired)
the entry is not served: requests wait for the one refresh, so a change is seen by every
request made more than ``ttl + stale`` seconds after it, busy process or idle. Only a key
with no entry at all, or one that old, waits for its load.

A refresh that fails because a backend is down keeps the stale entry, as if fresh for
another ``ttl`` (serving continues through the outage, with one lookup per ``ttl``); any
other failure drops it, so the request gets the real error (a waiting one at once, the
others on their next load).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Hashable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Generic, TypeVar

from anyio import to_thread

from ailayer.core.errors import BackendUnavailable

V = TypeVar("V")
MAX_ENTRIES = 10_000


class RefreshingCache(Generic[V]):
    def __init__(
        self, ttl: float, max_entries: int = MAX_ENTRIES, stale: float | None = None
    ) -> None:
        """``stale``: how long past ``ttl`` an entry may be served while it is refreshed
        (default: ``ttl``, so no request sees an entry older than ``2 * ttl``)."""
        self.ttl = ttl
        self.stale = ttl if stale is None else stale
        self.max_entries = max_entries
        self._entries: dict[Hashable, tuple[float, V]] = {}
        self._refreshing: dict[Hashable, Future[V]] = {}
        self._refresher: ThreadPoolExecutor | None = None

    def fresh(self, key: Hashable) -> V | None:
        """The entry if it has not expired; never blocks."""
        hit = self._entries.get(key)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        return None

    def put(self, key: Hashable, value: V) -> None:
        if self.ttl <= 0:
            return
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        self._entries[key] = (time.monotonic() + self.ttl, value)

    def discard(self, key: Hashable) -> None:
        self._entries.pop(key, None)

    def clear(self) -> None:
        self._entries.clear()

    def load(self, key: Hashable, loader: Callable[[], V]) -> V:
        """Blocking: the fresh entry, or load and keep it."""
        value = self.fresh(key)
        if value is None:
            value = loader()
            self.put(key, value)
        return value

    async def get(self, key: Hashable, loader: Callable[[], V]) -> V:
        """The entry, fresh, or stale for at most ``stale`` seconds (then refreshed once in
        the background); a missing or older entry is loaded in a worker thread."""
        hit = self._entries.get(key)
        if hit is None:
            value = await to_thread.run_sync(loader)
            self.put(key, value)
            return value
        expires, value = hit
        now = time.monotonic()
        if expires > now:
            return value
        refresh = self._refreshing.get(key)
        if refresh is None or refresh.done():  # done: it finished before it was listed
            refresh = self._executor().submit(self._refresh, key, loader)
            self._refreshing[key] = refresh
        if now < expires + self.stale:
            return value
        try:
            return await asyncio.wrap_future(refresh)
        except BackendUnavailable:
            return value  # kept by the refresh: served through the outage

    def _executor(self) -> ThreadPoolExecutor:
        """Refreshes run on plain threads, so they finish even if the event loop that
        asked for them ends first (a key can never stay stuck as refreshing)."""
        if self._refresher is None:
            self._refresher = ThreadPoolExecutor(max_workers=2, thread_name_prefix="refresh")
        return self._refresher

    def _refresh(self, key: Hashable, loader: Callable[[], V]) -> V:
        try:
            value = loader()
            self.put(key, value)
            return value
        except BackendUnavailable:
            hit = self._entries.get(key)
            if hit is not None:
                self.put(key, hit[1])  # keep serving it until the backend is back
            raise
        except Exception:
            self.discard(key)
            raise
        finally:
            self._refreshing.pop(key, None)
