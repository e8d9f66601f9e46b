"""Measured usage of this process, written to the metadata database every minute.

The predict path only adds numbers in memory (``serving.inline.CallCosts`` tallies each
model call's thread CPU time; ``events.usage`` counts events in and out). A ``UsageMeter``
takes those tallies and samples the model cache (each loaded model's measured bytes,
held for the period since the last sample) and appends one ``cost_usage`` row per tenant,
model version and resource: never a database write per request.

Resources written: ``cpu_seconds`` and ``memory_byte_seconds`` per (tenant, model,
version); ``events_in`` and ``events_out`` per tenant (model "", version 0).
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime

from ailayer.core.ids import new_id
from ailayer.db.engine import Database
from ailayer.db.tables import cost_usage
from ailayer.events.usage import EVENT_COUNTS, IN, OUT, EventCounts
from ailayer.serving.inline import CallCosts
from ailayer.serving.model_cache import ModelCache

CPU = "cpu_seconds"
MEMORY = "memory_byte_seconds"
EVENTS = {IN: "events_in", OUT: "events_out"}
Key = tuple[str, str, str, int]  # (tenant, resource, model, version)


class UsageMeter:
    def __init__(
        self,
        db: Database,
        costs: CallCosts | None = None,
        models: ModelCache | None = None,
        events: EventCounts = EVENT_COUNTS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``costs`` and ``models``: the local runner's (None where models run elsewhere,
        e.g. a gateway or a consumer: only events are measured there)."""
        self.db = db
        self.costs = costs
        self.models = models
        self.events = events
        self.clock = clock
        self.source = f"{socket.gethostname()}:{os.getpid()}"[:200]
        self.totals: dict[Key, float] = defaultdict(float)  # since start, for /metrics
        self._last = clock()
        self._lock = threading.Lock()  # one sample at a time

    def sample(self) -> tuple[float, dict[Key, float]]:
        """The period's length and its usage by (tenant, resource, model, version),
        taken from the tallies (which start again from zero)."""
        with self._lock:
            now = self.clock()
            seconds, self._last = max(now - self._last, 0.0), now
            usage: dict[Key, float] = defaultdict(float)
            if self.models is not None:
                self._models(usage, seconds)
            for (tenant, direction), count in self.events.take().items():
                if tenant:
                    usage[(tenant, EVENTS[direction], "", 0)] += count
            for key, quantity in usage.items():
                self.totals[key] += quantity
            return seconds, dict(usage)

    def _models(self, usage: dict[Key, float], seconds: float) -> None:
        cpu = self.costs.take_cpu() if self.costs is not None else {}
        for tenant, (model, version, *_), loaded, nbytes in self.models.loaded():
            usage[(tenant, MEMORY, model, version)] += nbytes * seconds
            spent = cpu.get(loaded)
            if spent:
                usage[(tenant, CPU, model, version)] += spent

    def flush(self) -> int:
        """Sample and append the rows (blocking); the rows written."""
        seconds, usage = self.sample()
        if not usage:
            return 0
        at = datetime.fromtimestamp(self._last, UTC)
        rows = [
            {
                "id": new_id(),
                "tenant_id": tenant,
                "at": at,
                "seconds": seconds,
                "resource": resource,
                "model": model,
                "version": version,
                "quantity": quantity,
                "source": self.source,
            }
            for (tenant, resource, model, version), quantity in usage.items()
        ]
        with self.db.write() as conn:
            conn.execute(cost_usage.insert(), rows)
        return len(rows)
