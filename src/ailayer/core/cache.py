"""A small TTL cache that serves a stale entry while one background refresh runs.

Hot paths (key → principal, endpoint → model version) must not wait on the database each
time an entry expires, and must not send every waiting request to the database at once:
past its TTL an entry is still served, and exactly one refresh per key runs in a worker
thread. Only a key with no entry at all waits for its load. A refresh that fails because
a backend is down keeps the stale entry (serving continues through the outage); any other
failure drops it, so the next request loads again and gets the real error.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from typing import Generic, TypeVar

from anyio import to_thread

from ailayer.core.errors import BackendUnavailable

V = TypeVar("V")
MAX_ENTRIES = 10_000


class RefreshingCache(Generic[V]):
    def __init__(self, ttl: float, max_entries: int = MAX_ENTRIES) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._entries: dict[Hashable, tuple[float, V]] = {}
        self._refreshing: set[Hashable] = set()
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
        """The entry, fresh or stale (then refreshed once in the background); a missing
        entry is loaded in a worker thread."""
        hit = self._entries.get(key)
        if hit is None:
            value = await to_thread.run_sync(loader)
            self.put(key, value)
            return value
        expires, value = hit
        if expires <= time.monotonic() and key not in self._refreshing:
            self._refreshing.add(key)
            self._executor().submit(self._refresh, key, loader)
        return value

    def _executor(self) -> ThreadPoolExecutor:
        """Refreshes run on plain threads, so they finish even if the event loop that
        asked for them ends first (a key can never stay stuck as refreshing)."""
        if self._refresher is None:
            self._refresher = ThreadPoolExecutor(max_workers=2, thread_name_prefix="refresh")
        return self._refresher

    def _refresh(self, key: Hashable, loader: Callable[[], V]) -> None:
        try:
            self.put(key, loader())
        except BackendUnavailable:
            pass  # keep serving the stale entry until the backend is back
        except Exception:
            self.discard(key)
        finally:
            self._refreshing.discard(key)
