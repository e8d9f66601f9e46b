"""The bounded hand-off between the predict path and the log writer.

``put`` never blocks and never grows the buffer past its capacity (counted in rows, so
one huge batch cannot hold more memory than many small ones): when full, the entry is
dropped and counted. The writer drains it from another task or thread.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from typing import Any

from ailayer.serving.target import Target

DEFAULT_CAPACITY_ROWS = 100_000


@dataclass(slots=True)
class Entry:
    """One predict request as the hot path hands it over: references, no copies.

    ``predictions`` are the response items (id, prediction, score, ...); ``rows`` the
    model inputs as used, one per item. A failed request has ``error`` and no items, and
    the ``prediction_id`` its answer named, if any.
    """

    tenant_id: str
    target: Target
    time_ns: int
    latency_ms: float
    rows: list[dict] | None
    predictions: list[dict[str, Any]] | None
    error: str | None = None
    prediction_id: str | None = None
    raw: bytes | None = None  # the predict body ``rows`` were parsed from, if known

    @property
    def size(self) -> int:
        return len(self.predictions) if self.predictions else 1


class LogBuffer:
    """A bounded FIFO of entries; ``dropped`` counts rows refused while full."""

    def __init__(self, capacity_rows: int = DEFAULT_CAPACITY_ROWS) -> None:
        self.capacity_rows = capacity_rows
        self.rows = 0
        self.dropped = 0
        self._entries: deque[Entry] = deque()
        self._lock = threading.Lock()

    def put(self, entry: Entry) -> bool:
        """Queue ``entry`` unless that would pass the capacity; never blocks on I/O."""
        size = entry.size
        with self._lock:
            if self.rows + size > self.capacity_rows:
                self.dropped += size
                return False
            self._entries.append(entry)
            self.rows += size
        return True

    def drain(self) -> list[Entry]:
        """Take everything queued so far."""
        with self._lock:
            taken = list(self._entries)
            self._entries.clear()
            self.rows = 0
        return taken
