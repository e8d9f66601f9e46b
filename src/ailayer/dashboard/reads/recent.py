"""A small per-key cache of expensive reports, so page views do not recompute them."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

DEFAULT_TTL = 60.0
MAX_KEYS = 512


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
