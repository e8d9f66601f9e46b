"""The bounded hand-off between the predict path and the log writer.

``put`` never blocks and never grows the buffer past its capacity (counted in rows, so
one huge batch cannot hold more memory than many small ones): when full, the entry is
dropped and counted. The writer drains it from another task or thread.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

import orjson

from ailayer.core.records import records_of
from ailayer.serving.target import PredictionColumns, Target

DEFAULT_CAPACITY_ROWS = 100_000
_PREDICTION_ID = itemgetter("prediction_id")
_PREDICTION = itemgetter("prediction")


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
    columns: PredictionColumns | None = None  # ``predictions`` by column, instead of them

    @property
    def size(self) -> int:
        if self.columns is not None:
            return len(self.columns[0]) or 1
        return len(self.predictions) if self.predictions else 1

    @property
    def answered(self) -> bool:
        return bool(self.columns[0]) if self.columns is not None else bool(self.predictions)

    def model_rows(self) -> list[Any]:
        """The rows the model used: ``rows``, or parsed from ``raw`` when only the predict
        body was handed over (a log process gets the body, not the rows)."""
        if self.rows is not None or self.raw is None:
            return self.rows or []
        return records_of(orjson.loads(self.raw))

    def prediction_columns(self) -> PredictionColumns:
        """What the log keeps of the predictions: ids, values, scores, probabilities (the
        last two None where no item has them)."""
        if self.columns is not None:
            return self.columns
        items = self.predictions or []
        scores = [item.get("score") for item in items]
        probabilities = [item.get("probabilities") for item in items]
        return (
            list(map(_PREDICTION_ID, items)),
            list(map(_PREDICTION, items)),
            scores if any(s is not None for s in scores) else None,
            probabilities if any(p is not None for p in probabilities) else None,
        )


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
