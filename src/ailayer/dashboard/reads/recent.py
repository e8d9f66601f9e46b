"""A small per-key cache of expensive reports, so page views do not recompute them.

``get`` computes in the caller when nothing fresh is kept. ``soon`` never makes a page
wait: it answers what is kept (even if older than ``ttl``, while one refresh runs in the
background) or ``Pending`` while the first computation runs, so a page whose report
takes seconds on a large log still answers at once and shows it on a later view.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

DEFAULT_TTL = 60.0
MAX_KEYS = 512
WORKERS = 2  # background computations at a time, per cache

logger = logging.getLogger("ailayer.dashboard")


@dataclass(frozen=True)
class Pending:
    """A report being computed in the background (a page says so and shows the rest)."""

    since: float
    pending: bool = True  # what templates test for


@dataclass(frozen=True)
class Failed:
    """A background computation's error, kept like a value so the page can show it."""

    error: Exception


class Recent:
    """``get(key, compute)``: the value computed for ``key`` less than ``ttl`` seconds ago,
    else ``compute()`` (one computation per key at a time; concurrent callers wait for it).
    Keys must start with the tenant, so no tenant is served another's report."""

    def __init__(self, ttl: float = DEFAULT_TTL, max_keys: int = MAX_KEYS) -> None:
        self.ttl = ttl
        self.max_keys = max_keys
        self._values: OrderedDict[Hashable, tuple[float, Any]] = OrderedDict()
        self._locks: dict[Hashable, threading.Lock] = {}
        self._lock = threading.Lock()
        self._running: dict[Hashable, float] = {}
        self._pool: ThreadPoolExecutor | None = None

    def soon(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        """The value kept for ``key`` (a computation's error is raised here), refreshed in
        the background when older than ``ttl``; ``Pending`` until the first one is done."""
        with self._lock:
            kept = self._values.get(key)
            stale = kept is None or time.monotonic() - kept[0] >= self.ttl
            if stale and key not in self._running:
                self._running[key] = time.monotonic()
                if self._pool is None:
                    self._pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="ailayer-console")
                self._pool.submit(self._compute, key, compute)
            since = self._running.get(key, time.monotonic())
        if kept is None:
            return Pending(since)
        if isinstance(kept[1], Failed):
            raise kept[1].error
        return kept[1]

    def _compute(self, key: Hashable, compute: Callable[[], Any]) -> None:
        value: Any
        try:
            value = compute()
        except Exception as exc:  # kept, and raised to the page that reads it
            logger.info("console report failed: %s", exc)
            value = Failed(exc)
        self.put(key, value)
        with self._lock:
            self._running.pop(key, None)

    def get(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        found = self._fresh(key)
        if found is not None:
            return found[1]
        with self._lock:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            found = self._fresh(key)
            if found is not None:
                return found[1]
            value = compute()
            self.put(key, value)
            return value

    def peek(self, key: Hashable) -> Any | None:
        """The fresh value of ``key``, else None (for callers that compute it themselves,
        e.g. on the event loop, then ``put`` it)."""
        found = self._fresh(key)
        return None if found is None else found[1]

    def put(self, key: Hashable, value: Any) -> None:
        with self._lock:
            self._values[key] = (time.monotonic(), value)
            self._values.move_to_end(key)
            while len(self._values) > self.max_keys:
                old, _ = self._values.popitem(last=False)
                self._locks.pop(old, None)

    def _fresh(self, key: Hashable) -> tuple[float, Any] | None:
        with self._lock:
            found = self._values.get(key)
        if found is not None and time.monotonic() - found[0] < self.ttl:
            return found
        return None
