"""Events in and out of this process's buses, per tenant: what cost accounting bills.

``BaseBus.publish`` counts each published event as *in* and ``BaseSubscription`` each
delivered one as *out* (a redelivery is delivered, and counted, again), into the one
``EVENT_COUNTS`` of the process: a dictionary addition under a lock, no I/O. Cost
accounting takes the counts every ``cost_flush_seconds`` (``take``).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable

IN = "in"
OUT = "out"


class EventCounts:
    def __init__(self) -> None:
        self._counts: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()

    def add(self, direction: str, tenants: Iterable[str | None]) -> None:
        """Count one event per item of ``tenants`` (each event's tenant) in ``direction``."""
        seen = Counter((tenant or "", direction) for tenant in tenants)
        with self._lock:
            self._counts.update(seen)

    def take(self) -> dict[tuple[str, str], int]:
        """(tenant, direction) → events since the last take, and start again from zero."""
        with self._lock:
            taken, self._counts = dict(self._counts), Counter()
        return taken


EVENT_COUNTS = EventCounts()
