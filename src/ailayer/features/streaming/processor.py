"""The stream processor: events in, the current window values per entity out.

Pure and synchronous (no I/O): ``StreamRunner`` feeds it deliveries and stores what it
emits. For every applied event it emits the entity's values at the event's time; when a
bucket leaves an entity's window it emits the decayed values at that instant (``advance``),
so the online store decays as time passes even when no event comes. Each emitted ``Row``
goes to the online store (latest per entity) and to the offline values log (every row), so
training sets see the values serving saw.

Time rules (all in µs since the epoch):

- the *clock* only moves forward: to each in-order event's time, and to ``advance(now)``;
- an in-order event (time ≥ clock) is applied at its own time; a late one (time < clock)
  is applied at the clock, so values already served for earlier times are never
  rewritten — it still lands in the bucket of its own time (a read at exactly the clock's
  instant may or may not see it, as with two events of equal time);
- an event older than the newest event time seen minus ``allowed_lateness`` is dropped
  and counted (``stats.late_dropped``); so is one whose bucket already left the window.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

import orjson

from ailayer.core.errors import InvalidInput
from ailayer.events.envelope import Event
from ailayer.features.definitions import FeatureView
from ailayer.features.streaming.spec import stream_source
from ailayer.features.streaming.window import US, WindowMath, WindowState
from ailayer.features.types import check_value

NEVER = -(2**62)
MAX_REMEMBERED_IDS = 1_000_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# values of exactly these types need no conversion; others go through ``check_value``
_EXACT = {"int64": int, "float64": float, "string": str, "bool": bool}


@dataclass
class StreamStats:
    """Counters since start; the metrics exporter reads them."""

    applied: int = 0  # events aggregated
    duplicates: int = 0  # an id already applied (redelivery)
    late_dropped: int = 0  # beyond allowed lateness, or their bucket had left the window
    skipped: int = 0  # another event type or another tenant
    invalid: int = 0  # bad data: dead-lettered by the runner
    rows: int = 0  # rows emitted (event rows and decay rows)
    lag: int | None = None


class Parsed(NamedTuple):
    """What the processor needs from one event (a tuple: built once per event)."""

    id: str
    keys: tuple[Any, ...]
    at_us: int
    values: tuple[Any, ...]


@dataclass(slots=True)
class Row:
    """One entity's values at ``at_us`` (µs), as written online and offline."""

    key: str
    keys: tuple[Any, ...]
    at_us: int
    values: dict[str, Any]


@dataclass(slots=True)
class EntityState:
    keys: tuple[Any, ...]
    key: str  # the canonical text of ``keys`` (``entity_key``), computed once per entity
    windows: list[WindowState]
    last_us: int = NEVER

    def empty(self) -> bool:
        return not any(w.buckets for w in self.windows)


@dataclass
class StreamProcessor:
    """Aggregates one stream view's events for one tenant (see the module docstring)."""

    view: FeatureView
    tenant_id: str
    max_ids: int = MAX_REMEMBERED_IDS
    stats: StreamStats = field(default_factory=StreamStats)

    def __post_init__(self) -> None:
        source = stream_source(self.view)
        self.source = source
        self.math = [WindowMath.of(a) for a in source.aggregations]
        self.lateness_us = source.allowed_lateness // US
        self.join_keys = self.view.join_keys
        self._keys = [(k, t, _EXACT.get(t)) for k, t in self.join_keys.items()]
        self._columns = [(m.column, m.numeric) for m in self.math]
        self._time_field = source.event_time_field
        self.entities: dict[tuple[Any, ...], EntityState] = {}  # by join-key values
        self.timers: list[tuple[int, tuple[Any, ...]]] = []
        self.clock_us = NEVER
        self.max_seen_us = NEVER
        self.recent: dict[str, None] = {}

    # parsing ------------------------------------------------------------------------
    def wants(self, event: Event) -> bool:
        """Whether the event is this view's (its type, this tenant)."""
        return event.type == self.source.event_type and event.tenant == self.tenant_id

    def parse(self, event: Event) -> Parsed:
        """Keys, time and aggregated values, checked; bad data is an InvalidInput."""
        return self.parse_body(event.id, event.data, event.time)

    def parse_body(self, event_id: str, data: Any, time: str | None) -> Parsed:
        """``parse`` of an event's id, data and CloudEvents time (a ``Batch`` body's)."""
        if type(data) is not dict and not isinstance(data, Mapping):
            raise InvalidInput(f"event {event_id}: data must be an object", field="data")
        return self.parse_data(event_id, data, self._event_time(event_id, time, data))

    def apply_bodies(
        self,
        bodies: Sequence[Mapping[str, Any]],
        out: list[Row],
        applied: Callable[[Parsed, Any], None],
    ) -> list[tuple[int, InvalidInput]]:
        """``wants``, ``parse`` and ``apply`` for a fetched batch's bodies (structured-mode
        CloudEvents objects, ``Batch.bodies``), with no ``Event`` per event. Calls
        ``applied(parsed, data)`` for each event applied; returns the index and error of
        each with bad data (not applied: the runner dead-letters them)."""
        kind, tenant, stats = self.source.event_type, self.tenant_id, self.stats
        parse_body, apply = self.parse_body, self.apply
        bad = []
        for i, body in enumerate(bodies):
            get = body.get
            if get("type") != kind or get("tenant") != tenant:
                stats.skipped += 1
                continue
            data = get("data")
            try:
                parsed = parse_body(body["id"], data, get("time"))
            except InvalidInput as exc:
                bad.append((i, exc))
                continue
            if apply(parsed, out):
                applied(parsed, data)
        return bad

    def parse_data(self, event_id: str, data: Mapping[str, Any], at_us: int) -> Parsed:
        keys = []
        for key, dtype, exact in self._keys:
            value = data.get(key)
            if type(value) is not exact:  # the common case skips the checks below
                value = check_value(dtype, value, f"data.{key}")
                if value is None:
                    raise InvalidInput(
                        f"event {event_id}: data.{key} is required", field=f"data.{key}"
                    )
            keys.append(value)
        values = []
        for column, numeric in self._columns:
            if column is None:  # count: no value
                values.append(None)
                continue
            value = data.get(column)
            if value is not None and not (numeric and type(value) is float):
                value = self._check(column, numeric, value)
            values.append(value)
        return Parsed(event_id, tuple(keys), at_us, tuple(values))

    @staticmethod
    def _check(column: str, numeric: bool, value: Any) -> Any:
        if numeric:
            return check_value("float64", value, f"data.{column}")
        if isinstance(value, list | dict):
            raise InvalidInput(f"data.{column} must be a scalar", field=f"data.{column}")
        return value

    def _event_time(self, event_id: str, time: str | None, data: Mapping[str, Any]) -> int:
        """The event's time in µs: its CloudEvents ``time``, or the data field named by
        the view's ``timestamp_field``."""
        name = self._time_field
        raw = time if name is None else data.get(name)
        if isinstance(raw, str):
            try:
                stamp = datetime.fromisoformat(raw)
            except ValueError:
                stamp = None
            if stamp is not None and stamp.tzinfo is not None:
                return (stamp - EPOCH) // US  # exact, as ``micros``
        elif isinstance(raw, int | float) and not isinstance(raw, bool):
            return round(raw * 1_000_000)
        where = "time" if name is None else f"data.{name}"
        raise InvalidInput(
            f"event {event_id}: {where} must be an RFC 3339 time with a zone or epoch seconds",
            field=where,
        )

    # applying -----------------------------------------------------------------------
    def apply(self, parsed: Parsed, out: list[Row]) -> bool:
        """Aggregate one event; append the rows it causes to ``out``. False if not applied."""
        recent = self.recent
        if parsed.id in recent:
            self.stats.duplicates += 1
            return False
        recent[parsed.id] = None
        if len(recent) > self.max_ids:
            del recent[next(iter(recent))]
        at = parsed.at_us
        if at < self.max_seen_us - self.lateness_us:
            self.stats.late_dropped += 1
            return False
        if at > self.max_seen_us:
            self.max_seen_us = at
        clock = self.clock_us
        if at >= clock:
            self.clock_us = at  # ``advance(at)``, with its call only when a timer is due
            timers = self.timers
            if timers and timers[0][0] <= at:
                self.advance(at, out)
            when = at
        else:
            when = clock
        return self._aggregate(parsed, when, out)

    def _aggregate(self, parsed: Parsed, when: int, out: list[Row]) -> bool:
        key = parsed.keys
        state = self.entities.get(key)
        if state is None:
            state = self.entities[key] = EntityState(
                key, orjson.dumps(list(key)).decode(), [WindowState(m) for m in self.math]
            )
        if state.last_us > when:
            when = state.last_us
        counted = False
        at = parsed.at_us
        pushed = NEVER  # windows of one size share a bucket's expiry: one timer serves them
        for window, value in zip(state.windows, parsed.values, strict=True):
            math = window.math
            step = math.step_us
            first = when // step - math.buckets + 1  # math.first_live(when), inlined
            if window.lowest < first:
                window.expire(when)
            bucket = at // step
            if bucket < first:
                continue
            counted = True
            if value is None and math.column is not None:
                continue
            if window.add(bucket, value):
                expiry = (bucket + math.buckets) * step  # math.expiry(bucket), inlined
                if expiry != pushed:
                    heapq.heappush(self.timers, (expiry, key))
                    pushed = expiry
        if not counted:
            self.stats.late_dropped += 1
            return False
        self.stats.applied += 1
        self._emit(state, when, out)
        return True

    def advance(self, now_us: int, out: list[Row]) -> None:
        """Move the clock to ``now_us``, emitting decayed values for expired buckets."""
        if now_us > self.clock_us:
            self.clock_us = now_us
        timers = self.timers
        while timers and timers[0][0] <= now_us:
            at, key = heapq.heappop(timers)
            state = self.entities.get(key)
            if state is None or state.last_us >= at:
                continue
            for window in state.windows:
                window.expire(at)
            self._emit(state, at, out)
            if state.empty():
                del self.entities[key]

    def _emit(self, state: EntityState, at_us: int, out: list[Row]) -> None:
        state.last_us = at_us
        values = {}
        for window in state.windows:  # a loop, not a comprehension: no frame per row
            values[window.math.name] = window.value()
        out.append(Row(state.key, state.keys, at_us, values))
        self.stats.rows += 1

    def forget(self, keys: Iterable[tuple[Any, ...]]) -> list[str]:
        """Drop these entities' window state and timers (their subjects were erased by a
        privacy request); the entity keys (``Row.key``) of those that were held."""
        gone = {}
        for key in keys:
            state = self.entities.pop(key, None)
            if state is not None:
                gone[key] = state.key
        if gone:
            self.timers = [timer for timer in self.timers if timer[1] not in gone]
            heapq.heapify(self.timers)
        return list(gone.values())

    def current(self) -> list[Row]:
        """Every live entity's values as of its last change (to restore the online store)."""
        return [
            Row(s.key, s.keys, s.last_us, {w.math.name: w.value() for w in s.windows})
            for s in self.entities.values()
        ]
