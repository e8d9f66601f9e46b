"""Per-entity window state: bucketed partial aggregates that decay as time passes.

Time is integer microseconds since the epoch. An aggregation with bucket size ``step`` and
``n = window / step`` buckets covers, at time T, the buckets ``T // step - n + 1`` …
``T // step`` (only events at or before T are ever in them). Each entity keeps its live
buckets and running totals, so adding an event costs O(1); when buckets leave the window
the totals are recomputed from the buckets that remain (O(n), once per expiry), which also
keeps float sums free of add-then-subtract drift.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from ailayer.features.streaming.spec import Aggregation

US = timedelta(microseconds=1)
NUMERIC = frozenset({"sum", "mean", "min", "max"})
TOTALS_ONLY = frozenset({"sum", "mean"})
NO_BUCKET = 2**63  # ``WindowState.lowest`` while there is no bucket


@dataclass(frozen=True, slots=True)
class WindowMath:
    """The bucket arithmetic of one aggregation."""

    name: str
    column: str | None
    function: str
    step_us: int
    buckets: int

    @classmethod
    def of(cls, aggregation: Aggregation) -> WindowMath:
        assert aggregation.step is not None
        step = aggregation.step // US
        return cls(
            aggregation.name,
            aggregation.column,
            aggregation.function,
            step,
            (aggregation.window // US) // step,
        )

    def bucket(self, at_us: int) -> int:
        return at_us // self.step_us

    def first_live(self, at_us: int) -> int:
        """The oldest bucket still inside the window at ``at_us``."""
        return at_us // self.step_us - self.buckets + 1

    def expiry(self, bucket: int) -> int:
        """When ``bucket`` leaves the window."""
        return (bucket + self.buckets) * self.step_us

    @property
    def numeric(self) -> bool:
        """Whether the aggregated values must be numbers."""
        return self.function in NUMERIC


class Partial:
    """One bucket's (or one window's) count, sum, min, max and distinct values."""

    __slots__ = ("count", "distinct", "hi", "lo", "total")

    def __init__(self, distinct: bool) -> None:
        self.count = 0
        self.total = 0.0
        self.lo: Any = None
        self.hi: Any = None
        self.distinct: Counter | None = Counter() if distinct else None

    def add(self, value: Any) -> None:
        self.count += 1
        if self.distinct is not None:
            self.distinct[value] += 1
        elif value is not None:
            self.total += value
            if self.lo is None or value < self.lo:
                self.lo = value
            if self.hi is None or value > self.hi:
                self.hi = value


class WindowState:
    """One aggregation of one entity: live buckets plus their running total."""

    __slots__ = ("buckets", "lowest", "math", "running", "totals_only")

    def __init__(self, math: WindowMath) -> None:
        self.math = math
        self.buckets: dict[int, Partial] = {}
        self.lowest = NO_BUCKET  # the oldest bucket: expiring is a no-op unless it is gone
        self.running = Partial(math.function == "distinct_count")
        # sum and mean read only counts and totals: ``add`` skips the min/max upkeep
        self.totals_only = math.function in TOTALS_ONLY

    def add(self, bucket: int, value: Any) -> bool:
        """Count ``value`` in ``bucket``; True if the bucket is new (it needs a timer)."""
        part = self.buckets.get(bucket)
        new = part is None
        if part is None:
            part = self.buckets[bucket] = Partial(self.running.distinct is not None)
            if bucket < self.lowest:
                self.lowest = bucket
        running = self.running
        if value is None and running.distinct is None:  # a count: no call needed
            part.count += 1
            running.count += 1
        elif self.totals_only:  # as ``Partial.add`` without min and max: no call either
            part.count += 1
            part.total += value
            running.count += 1
            running.total += value
        else:
            part.add(value)
            running.add(value)
        return new

    def expire(self, at_us: int) -> None:
        """Drop buckets that left the window at ``at_us`` and recompute the totals."""
        first = self.math.first_live(at_us)
        if self.lowest >= first:
            return
        gone = [b for b in self.buckets if b < first]
        for bucket in gone:
            part = self.buckets.pop(bucket)
            if self.running.distinct is not None and part.distinct is not None:
                self.running.distinct.subtract(part.distinct)
                self.running.distinct += Counter()  # drops zero counts
        self.lowest = min(self.buckets, default=NO_BUCKET)
        self._recount()

    def _recount(self) -> None:
        running = self.running
        parts = [self.buckets[b] for b in sorted(self.buckets)]
        running.count = sum(p.count for p in parts)
        running.total = sum(p.total for p in parts)
        los = [p.lo for p in parts if p.lo is not None]
        his = [p.hi for p in parts if p.hi is not None]
        running.lo = min(los) if los else None
        running.hi = max(his) if his else None

    def value(self) -> Any:
        running, function = self.running, self.math.function
        if function == "count":
            return running.count
        if function == "distinct_count":
            return len(running.distinct or ())
        if function == "sum":
            return running.total
        if running.count == 0:
            return None
        if function == "mean":
            return running.total / running.count
        return running.lo if function == "min" else running.hi
