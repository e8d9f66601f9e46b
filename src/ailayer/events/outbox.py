"""Publishing off the hot path: a bounded queue in memory, a bounded spool on disk.

``Outbox.offer(topic, event)`` never blocks and never waits for the broker: it appends to
an in-memory queue (at most ``max_queue`` events) and returns True, or returns False when
the outbox is full. A background task publishes what is queued in batches (up to
``batch_size``; they form by themselves while a publish is in flight).

When the broker is down (``publish`` raised), batches go to the spool, a SQLite file of at
most ``max_spooled`` events (``spool.py``), and from then on new batches are appended
behind them, so the outbox keeps its order. Every ``retry_interval`` seconds the oldest
spooled chunk is tried again; once the broker takes it, the spool drains chunk by chunk
between new batches, and publishing goes direct again when it is empty.

Full means the spool is full (the broker has been down long enough to fill it), or the
memory queue is (the broker and the disk are both slower than the producers). Then
``offer`` returns False, ``stats.rejected`` counts it, and a warning is logged at most
every ``LOG_EVERY`` seconds with the count. Nothing grows without bound.

Delivery is at least once: a batch that failed half-way is published again from the
spool, and consumers absorb the duplicates by event id. Events still in memory when the
process is killed are lost (at most ``max_queue``); ``close()`` spools them first.
``offer`` must be called from the event loop's thread.

A data subject delete cannot open the spool while this process holds it; it leaves an
erase request beside it instead (``erasure.py``), which the outbox honours within
``erasure.CHECK_SECONDS``: the subject's spooled events are removed and the request
answered. Events still in memory are not in the spool; they reach the broker, where the
delete searches the topics.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from ailayer.events import erasure
from ailayer.events.bus import EventBus, check_publish
from ailayer.events.envelope import Event
from ailayer.events.spool import Spool

logger = logging.getLogger(__name__)

LOG_EVERY = 10.0
Item = tuple[str, Event]


@dataclass
class OutboxStats:
    """Counters since start; ``rejected`` is the "outbox full" metric."""

    offered: int = 0
    published: int = 0
    spooled: int = 0
    rejected: int = 0
    queued: int = 0
    spool_depth: int = 0


class Outbox:
    """See the module docstring. ``start()`` before offering; ``close()`` at shutdown."""

    def __init__(
        self,
        bus: EventBus,
        path: Path,
        *,
        max_queue: int = 10_000,
        max_spooled: int = 1_000_000,
        batch_size: int = 500,
        retry_interval: float = 1.0,
    ) -> None:
        self.bus = bus
        self.max_queue, self.batch_size, self.retry_interval = max_queue, batch_size, retry_interval
        self.stats = OutboxStats()
        self._spool = Spool(path, max_spooled)
        self._queue: deque[Item] = deque()
        self._taken: list[Item] = []
        self._wakeup = asyncio.Event()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ailayer-outbox")
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._next_retry = 0.0
        self._next_check = 0.0  # of erase requests
        self._down = False
        self._unreported = 0
        self._last_report = 0.0

    async def start(self) -> None:
        """Open the spool (draining what a previous process left) and start publishing."""
        try:
            self.stats.spool_depth = await self._disk(self._spool.open)
        except BaseException:
            self._executor.shutdown(wait=False)
            raise
        self._task = asyncio.create_task(self._run())

    def offer(self, topic: str, event: Event) -> bool:
        """Queue ``event`` for ``topic``; False (counted and logged) when the outbox is full."""
        check_publish(topic, [event])
        if self._closing or len(self._queue) >= self.max_queue or self._spool_full():
            self._reject()
            return False
        self._queue.append((topic, event))
        self.stats.offered += 1
        self.stats.queued = len(self._queue)
        self._wakeup.set()
        return True

    async def close(self, timeout: float = 10.0) -> None:
        """Stop, publish or spool what is queued, and close the spool file."""
        self._closing = True
        self._wakeup.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, timeout)
            except TimeoutError:
                logger.warning("outbox: close timed out; spooling what is left")
        self._queue.extendleft(reversed(self._taken))
        await self._spill(list(self._queue), final=True)
        self._queue.clear()
        await self._disk(self._spool.close)
        self._executor.shutdown(wait=True)

    def _spool_full(self) -> bool:
        return self._spool.depth > 0 and self._spool.room == 0

    def _reject(self) -> None:
        self.stats.rejected += 1
        self._unreported += 1
        now = time.monotonic()
        if now - self._last_report >= LOG_EVERY:
            logger.warning(
                "outbox full: rejected %d event(s) (queue %d/%d, spool %d/%d)",
                self._unreported,
                len(self._queue),
                self.max_queue,
                self._spool.depth,
                self._spool.capacity,
            )
            self._unreported, self._last_report = 0, now

    async def _run(self) -> None:
        try:
            while not self._closing:
                await self._wait()
                await self._honour_erasures()
                await self._cycle()
        except asyncio.CancelledError:
            self._queue.extendleft(reversed(self._taken))
            self._taken = []
            raise

    async def _wait(self) -> None:
        """Until there is work: queued events (with room to move them), a retry due, or
        the next look for erase requests."""
        if self._queue and not self._spool_full():
            return
        now = time.monotonic()
        timeout = max(0.0, self._next_check - now)
        if self._spool.depth:
            timeout = min(timeout, max(0.0, self._next_retry - now))
        self._wakeup.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wakeup.wait(), timeout)

    async def _honour_erasures(self) -> None:
        """Every ``erasure.CHECK_SECONDS``: answer the erase requests beside the spool."""
        now = time.monotonic()
        if now < self._next_check:
            return
        self._next_check = now + erasure.CHECK_SECONDS
        try:
            removed = await self._disk(self._spool.honour_erasures)
        except Exception as exc:  # publishing goes on; the delete reports no answer
            logger.warning("outbox: an erase request could not be honoured: %r", exc)
            return
        if removed:
            self.stats.spool_depth = self._spool.depth
            logger.info("outbox: removed %d spooled event(s) on an erase request", removed)

    async def _cycle(self) -> None:
        if self._spool.depth and time.monotonic() >= self._next_retry:
            await self._drain_chunk()
        self._taken = [self._queue.popleft() for _ in range(min(self.batch_size, len(self._queue)))]
        self.stats.queued = len(self._queue)
        if self._taken:
            unsent = self._taken if self._spool.depth else await self._publish(self._taken)
            await self._spill(unsent)
        self._taken = []

    async def _publish(self, items: Sequence[Item]) -> list[Item]:
        """Publish per topic, in order; returns the items not published."""
        topics = list(dict.fromkeys(topic for topic, _ in items))
        for index, topic in enumerate(topics):
            events = [event for t, event in items if t == topic]
            try:
                await self.bus.publish(topic, events)
            except Exception as exc:
                self._next_retry = time.monotonic() + self.retry_interval
                if not self._down:
                    logger.warning("outbox: publishing to %s failed, spooling: %s", topic, exc)
                self._down = True
                return [item for item in items if item[0] in topics[index:]]
            self.stats.published += len(events)
        if self._down:
            logger.info("outbox: the broker takes events again")
        self._down = False
        return []

    async def _spill(self, items: list[Item], *, final: bool = False) -> None:
        """Append ``items`` to the spool; what does not fit goes back to the queue front."""
        if not items:
            return
        stored = await self._disk(self._spool.append, items)
        self.stats.spooled += stored
        self.stats.spool_depth = self._spool.depth
        rest = items[stored:]
        if rest and final:
            logger.error("outbox: spool full at shutdown; %d event(s) dropped", len(rest))
            self.stats.rejected += len(rest)
        elif rest:
            logger.warning("outbox: spool full (%d events); holding the rest", self._spool.depth)
            self._queue.extendleft(reversed(rest))
            self.stats.queued = len(self._queue)

    async def _drain_chunk(self) -> None:
        rows = await self._disk(self._spool.peek, self.batch_size)
        if not rows:
            return
        unsent = await self._publish([(topic, event) for _, topic, event in rows])
        if unsent:
            return
        await self._disk(self._spool.remove_through, rows[-1][0])
        self.stats.spool_depth = self._spool.depth
        if not self._spool.depth:
            logger.info("outbox: spool drained; publishing directly again")

    async def _disk(self, fn: Any, *args: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, partial(fn, *args))
