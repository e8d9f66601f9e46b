"""A circuit breaker and a bounded answer cache for calls to an external model API.

The breaker keeps a failing provider from taking every request's time: after
``failures`` consecutive failed attempts it opens and callers fail at once; after
``cooldown`` seconds exactly one probe goes through (half-open), and its outcome closes
or re-opens the circuit. The cache keeps ``size`` answers for ``ttl`` seconds, least
recently used out first, so a repeated question costs no second call.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half-open"


class CircuitBreaker:
    def __init__(
        self, failures: int, cooldown: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.failures = failures
        self.cooldown = cooldown
        self.clock = clock
        self.state = CLOSED
        self._count = 0
        self._opened_at = 0.0
        self._lock = threading.Lock()

    def allow(self) -> bool:
        """May a call go out now? In half-open state only the one probe may."""
        with self._lock:
            if self.state == CLOSED:
                return True
            if self.state == OPEN and self.clock() - self._opened_at >= self.cooldown:
                self.state = HALF_OPEN
                return True
            return False

    def succeeded(self) -> None:
        with self._lock:
            self.state = CLOSED
            self._count = 0

    def failed(self) -> None:
        with self._lock:
            self._count += 1
            if self.state == HALF_OPEN or self._count >= self.failures:
                self.state = OPEN
                self._opened_at = self.clock()


class TtlCache:
    """At most ``size`` entries, each for ``ttl`` seconds; ``size`` 0 keeps nothing."""

    def __init__(self, size: int, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.size = size
        self.ttl = ttl
        self.clock = clock
        self._entries: OrderedDict[Hashable, tuple[float, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> tuple[bool, Any]:
        """``(True, value)`` for a fresh entry, ``(False, None)`` otherwise."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return False, None
            if entry[0] <= self.clock():
                del self._entries[key]
                return False, None
            self._entries.move_to_end(key)
            return True, entry[1]

    def put(self, key: Hashable, value: Any) -> None:
        if self.size == 0:
            return
        with self._lock:
            self._entries[key] = (self.clock() + self.ttl, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
