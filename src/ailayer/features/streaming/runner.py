"""``StreamRunner``: one stream view's processor on the bus, writing online and offline.

Why not a per-event ``ConsumerRunner`` handler: a view's effect must commit per batch
(the offline log file is the record of what was applied), so this loop fetches up to
``batch_size`` events as one ``Batch`` (columns: no ``Event`` or ``Delivery`` object per
event), aggregates them, and every ``flush_rows`` events or
``flush_interval`` seconds commits in this order:

1. the offline log (raw events + value rows; fsynced, renamed into place);
2. the online store (the latest row per entity; newer-wins, so re-writing is harmless);
3. the acks (one ``ack_batches`` per commit).

A commit runs in the background (its writes in a worker thread) while the next batches
are fetched and aggregated; commits run one at a time and in order, and a commit's acks
go out only after its writes, so the order above holds for every event. While a commit is
still writing and events keep coming, the next commit waits for it by growing (up to
``flush_rows``) rather than by stalling the loop: under load, commits get larger and
fewer, and each pays its two fsyncs for more events.

Exactly-once effect per event: an event is applied iff its id is in the offline log.
A crash before (1) loses only memory — the events come back and are applied again; a
crash after (1) comes back to a processor that rebuilt its windows *and* its applied ids
from the log (``restore``), so redelivered events are skipped (``stats.duplicates``) and
the online store is re-written from the rebuilt state. This is the same guarantee as the
idempotency store's ``apply``, with the log in the role of the store.

One runner per (tenant, view): windows live in its memory, so a view's events must not
be split across processes (a second runner of the same group would see half of each
entity's events). Events of other types or tenants are acked and skipped; events with
bad data are dead-lettered at once with the error (``<topic>-dlq``); late ones are counted.

Subjects erased by a privacy request (``tombstones``) leave the runner's memory too: their
events and rows are dropped before a commit writes, and the entities they drop are then
forgotten; every ``tombstones.ttl`` seconds the runner reads the tenant's tombstones and,
when they changed, forgets the window state of the entities they name and deletes their
online rows (which a commit may have written before this process saw the delete);
``restore`` does not rebuild them from events logged meanwhile. With no tombstones this
costs one clock comparison per batch.

``clock="wall"`` (serving) moves time with the wall clock, so windows decay while no event
comes; ``clock="event"`` (replaying history) moves it with the newest event time only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from ailayer.core.errors import BackendUnavailable, InvalidInput
from ailayer.core.names import BUS_NAME_MAX, check_bus_name
from ailayer.events.bus import Batch, Delivery, EventBus, Subscription
from ailayer.events.deadletter import dead_letter, dead_letter_topic
from ailayer.events.scope import tenant_tag
from ailayer.features.catalog import storage_name
from ailayer.features.definitions import FeatureView
from ailayer.features.erased import erased_rows
from ailayer.features.files import Folder
from ailayer.features.stores.online import OnlineStore
from ailayer.features.streaming.log import StreamLog
from ailayer.features.streaming.processor import Row, StreamProcessor, StreamStats
from ailayer.features.streaming.spec import stream_source
from ailayer.features.types import micros
from ailayer.governance.privacy.tombstones import Tombstones

logger = logging.getLogger(__name__)


def default_group(tenant_id: str, view: FeatureView) -> str:
    """``stream-<tenant tag>-<view>-v<version>``: one group per tenant and view version.
    The group is the view's state on the broker (what it has read and acked), so it names
    the whole tenant id (``tenant_tag``: a hash) — two tenants' runners in one group would
    split the events, each acking the other's as skipped."""
    return stream_group(tenant_id, view.name, view.version)


def stream_group(tenant_id: str, view_name: str, version: object) -> str:
    """``default_group`` of a view by name and version (any version, not only the one
    applied: a data subject request reads the queues of older versions' groups too)."""
    name = re.sub(r"[^a-z0-9_-]", "-", view_name.lower())
    suffix = f"-v{version}"
    head = f"stream-{tenant_tag(tenant_id)}-{name}"[: BUS_NAME_MAX - len(suffix)]
    return check_bus_name("group", head + suffix)


def wall_us() -> int:
    return time.time_ns() // 1000


class StreamRunner:
    """Runs one stream view for one tenant; see the module docstring."""

    def __init__(
        self,
        bus: EventBus,
        view: FeatureView,
        tenant_id: str,
        tenant_root: Folder,
        online: OnlineStore,
        *,
        group: str | None = None,
        consumer: str | None = None,
        batch_size: int = 1000,
        flush_rows: int = 10_000,
        flush_interval: float = 0.5,
        ack_wait: float = 60.0,
        fetch_timeout: float = 0.5,
        clock: str = "wall",
        stop_when_idle: bool = False,
        on_commit: Callable[[list[int]], None] | None = None,
        tombstones: Tombstones | None = None,
    ) -> None:
        """``on_commit(event_times_us)`` is called after each commit (benchmarks, metrics);
        ``tombstones``: subjects erased by privacy requests, whose events and rows are
        written neither offline nor online."""
        self.tombstones = tombstones
        if clock not in ("wall", "event"):
            raise InvalidInput("clock must be wall or event", field="clock")
        self.bus, self.view, self.tenant_id, self.online = bus, view, tenant_id, online
        self.topic = stream_source(view).topic
        self.group = check_bus_name("group", group or default_group(tenant_id, view))
        self.consumer = consumer or f"s-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.batch_size, self.flush_rows, self.flush_interval = (
            batch_size,
            flush_rows,
            flush_interval,
        )
        self.ack_wait, self.fetch_timeout = ack_wait, fetch_timeout
        self.clock, self.stop_when_idle = clock, stop_when_idle
        self.processor = StreamProcessor(view, tenant_id)
        self.log = StreamLog(tenant_root, view)
        self.stats: StreamStats = self.processor.stats
        self._rows: list[Row] = []
        self._held: list[Batch] = []  # applied, to ack with the next commit
        self._stopping = asyncio.Event()
        self._flushed_at = time.monotonic()
        self.on_commit = on_commit
        self._committing: asyncio.Task[None] | None = None
        self._sub: Subscription | None = None
        self._failing = False  # the latest fetch failed (the broker is away)
        self._erased_seen: frozenset[str] = frozenset()  # the tombstones last purged for
        self._erased_at = time.monotonic()  # … and when they were read

    def stop(self) -> None:
        """Finish the current batch, flush, and return from ``run``."""
        self._stopping.set()

    @property
    def consuming(self) -> bool:
        """Subscribed, and the broker answered the latest fetch (a role's ``/readyz``)."""
        return self._sub is not None and not self._failing

    async def run(self) -> StreamStats:
        await asyncio.to_thread(self.restore)
        sub = await self.bus.subscribe(
            self.topic, self.group, self.consumer, ack_wait=self.ack_wait
        )
        self._sub = sub
        try:
            await self._loop(sub)
        finally:
            await self.flush()
            await self._settled()
            with contextlib.suppress(BackendUnavailable):
                await sub.close()
        return self.stats

    def restore(self) -> None:
        """Rebuild windows and applied ids from the offline log, then re-write online."""
        source = stream_source(self.view)
        horizon = max(a.window for a in source.aggregations) + source.allowed_lateness
        since = micros(datetime.now(UTC) - horizon) if self.clock == "wall" else -(2**62)
        rows: list[Row] = []
        for event_id, at_us, data in self.log.read_events(since):
            self.processor.apply(self.processor.parse_data(event_id, data, at_us), rows)
        if self.clock == "wall":
            self.processor.advance(wall_us(), rows)
        if self.tombstones is not None:  # logged before this process saw a delete
            self._erased_seen = self.tombstones.hashes(self.tenant_id)
            gone = self.processor.forget(self._erased_among(list(self.processor.entities)))
            if gone:
                self.online.delete_keys(self.tenant_id, storage_name(self.view), gone)
        current = self.processor.current()
        self.stats.applied = self.stats.rows = 0
        if current:
            self.log.add_rows(current)
            self.log.flush()
            self._write_online(current)

    async def _loop(self, sub: Subscription) -> None:
        """Fetch, apply, commit when due. While batches keep coming, the next fetch is
        already on its way while one is applied, so the broker's read overlaps our work.
        Stopping applies a batch fetched ahead (``run`` then commits it); a failure leaves
        it unacked, to come back after ``ack_wait`` like any event of a crashed runner."""
        ahead: asyncio.Task[Batch | None] | None = None
        try:
            while not self._stopping.is_set():
                fetching, ahead = ahead or asyncio.create_task(self._fetch(sub)), None
                batch = await fetching
                if batch is None:
                    continue
                if batch:
                    ahead = asyncio.create_task(self._fetch(sub))
                await self._apply(batch)
                if self.clock == "wall":
                    self.processor.advance(wall_us(), self._rows)
                tombstones = self.tombstones
                if tombstones is not None and time.monotonic() - self._erased_at >= tombstones.ttl:
                    await self._forget_erased()
                if self._due(bool(batch)):
                    await self.flush()
                if self.stop_when_idle and not batch and not self._held and await self._idle_now():
                    return
            if ahead is not None:
                fetching, ahead = ahead, None
                last = await fetching
                if last:
                    await self._apply(last)
        finally:
            if ahead is not None:
                ahead.cancel()
                with contextlib.suppress(asyncio.CancelledError, BackendUnavailable):
                    await ahead

    async def _fetch(self, sub: Subscription) -> Batch | None:
        """The next batch; None once the broker failed (after a pause, to retry)."""
        try:
            batch = await sub.fetch_batch(self.batch_size, timeout=self.fetch_timeout)
        except BackendUnavailable as exc:
            self._failing = True
            logger.warning("fetch from %s failed, retrying: %s", self.topic, exc)
            await asyncio.sleep(0.5)
            return None
        self._failing = False
        return batch

    async def _apply(self, batch: Batch) -> None:
        if not batch:
            return
        processor = self.processor
        bad = processor.apply_bodies(batch.bodies, self._rows, self.log.add_event)
        for i, exc in bad:
            await self._dead_letter(batch.delivery(i), exc)
        self._held.append(batch)
        if self.clock == "event":
            processor.advance(processor.max_seen_us, self._rows)

    async def _forget_erased(self) -> None:
        """Drop the window state of subjects erased since the last look (a privacy delete
        while this runner runs), and their online rows, which a commit may have written
        before this process saw the tombstone. Read at most every ``tombstones.ttl``
        seconds; purges only when the tenant's tombstones changed."""
        assert self.tombstones is not None
        self._erased_at = time.monotonic()
        hashes = await asyncio.to_thread(self.tombstones.hashes, self.tenant_id)
        if hashes is self._erased_seen or hashes == self._erased_seen:
            return
        self._erased_seen = hashes
        erased = await asyncio.to_thread(self._erased_among, list(self.processor.entities))
        gone = self.processor.forget(erased)
        if gone:
            await self._settled()  # a commit in flight may still write their rows
            name = storage_name(self.view)
            await asyncio.to_thread(self.online.delete_keys, self.tenant_id, name, gone)
            logger.info("stream %s: forgot %d erased entities", self.view.name, len(gone))

    def _erased_among(self, keys: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        """Which of these entities' join-key values belong to erased subjects."""
        names = list(self.view.join_keys)
        return [keys[i] for i in erased_rows(self.tombstones, self.tenant_id, names, keys)]

    def _due(self, fetched: bool) -> bool:
        """Whether to start a commit: ``flush_rows`` events held, ``flush_interval``
        passed, or the topic ran dry. While the previous commit is still writing and
        events keep coming, the next one grows (up to ``flush_rows``) instead of waiting
        for it: a group commit, so that slow fsyncs do not stall fetching and applying."""
        if not self._held and not self._rows:
            return False
        if sum(map(len, self._held)) >= self.flush_rows:  # a few batches at most
            return True
        writing = self._committing is not None and not self._committing.done()
        if writing and fetched:
            return False
        return not fetched or time.monotonic() - self._flushed_at >= self.flush_interval

    async def flush(self) -> None:
        """Start a commit of what was applied so far: offline log, then the online store,
        then the acks. It runs in the background; a failure of the previous commit is
        raised here (its deliveries stay unacked and come back after ``ack_wait``)."""
        self._flushed_at = time.monotonic()
        committed = self.log.event_times() if self.on_commit else []
        rows, self._rows = self._rows, []
        self.log.add_rows(rows)
        events, logged = self.log.take()
        held, self._held = self._held, []
        await self._settled()  # one commit at a time, in order
        if events or logged or held:
            self._committing = asyncio.create_task(
                self._commit(events, logged, rows, held, committed)
            )

    async def _settled(self) -> None:
        """Wait for the commit in flight; re-raise its failure."""
        task, self._committing = self._committing, None
        if task is not None:
            await task

    async def _commit(
        self,
        events: list[tuple[str, int, Any]],
        logged: list[Row],
        rows: list[Row],
        held: list[Batch],
        committed: list[int],
    ) -> None:
        if events or logged:
            erased = await asyncio.to_thread(self._write, events, logged, rows)
            self.processor.forget(erased)  # an erased subject's new events fold nowhere
        if held and self._sub is not None:  # only a subscription's batches are held
            await _quiet(self._sub.ack_batches(held))
        if self.on_commit is not None and committed:
            self.on_commit(committed)

    def _write(
        self, events: list[tuple[str, int, Any]], logged: list[Row], rows: list[Row]
    ) -> set[tuple[Any, ...]]:
        """The offline log, then the online store (blocking: runs in a worker thread);
        the join-key values of the erased subjects whose rows were dropped."""
        events, logged, rows, erased = self._without_erased(events, logged, rows)
        self.log.write(events, logged)
        if rows:
            self._write_online(rows)
        return erased

    def _without_erased(
        self, events: list[tuple[str, int, Any]], logged: list[Row], rows: list[Row]
    ) -> tuple[list[tuple[str, int, Any]], list[Row], list[Row], set[tuple[Any, ...]]]:
        if self.tombstones is None or not self.tombstones.hashes(self.tenant_id):
            return events, logged, rows, set()
        names = list(self.view.join_keys)
        erased: set[tuple[Any, ...]] = set()

        def kept_rows(found: list[Row]) -> list[Row]:
            drop = erased_rows(self.tombstones, self.tenant_id, names, [r.keys for r in found])
            erased.update(found[i].keys for i in drop)
            return [r for i, r in enumerate(found) if i not in drop]

        keys = [_event_keys(data, names) for _, _, data in events]
        drop = erased_rows(self.tombstones, self.tenant_id, names, keys)
        kept = [e for i, e in enumerate(events) if i not in drop]
        return kept, kept_rows(logged), kept_rows(rows), erased

    def _write_online(self, rows: list[Row]) -> None:
        latest = {row.key: (row.key, row.at_us, row.values) for row in rows}
        batch = list(latest.values())
        self.online.write_batch_us(self.tenant_id, storage_name(self.view), batch, self.view.ttl)

    async def _dead_letter(self, delivery: Delivery, exc: Exception) -> None:
        self.stats.invalid += 1
        letter = dead_letter(
            delivery.event, topic=self.topic, group=self.group, error=exc, attempts=delivery.attempt
        )
        try:
            await self.bus.publish(dead_letter_topic(self.topic), [letter])
        except BackendUnavailable:
            await _quiet(delivery.nack(1.0))
            return
        await _quiet(delivery.ack())

    async def _idle_now(self) -> bool:
        await self._settled()  # acks still in flight count as lag
        return await self._idle()

    async def _idle(self) -> bool:
        try:
            self.stats.lag = await self.bus.lag(self.topic, self.group)
        except BackendUnavailable:
            return False
        return self.stats.lag == 0


def _event_keys(data: Any, names: list[str]) -> tuple[Any, ...]:
    """An event's join-key values (None where its data has none)."""
    if not isinstance(data, dict):
        return tuple(None for _ in names)
    return tuple(data.get(name) for name in names)


async def _quiet(call: Awaitable[None]) -> None:
    """An ack lost to an outage only means a redelivery, which the log absorbs."""
    with contextlib.suppress(BackendUnavailable):
        await call
