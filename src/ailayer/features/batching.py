"""Online reads of concurrent requests on one event loop, answered by one store round trip.

A lean HTTP route awaits ``ReadBatcher.read``. The first read of a loop iteration schedules
the flush as a task, which runs after every callback already waiting in that iteration; the
requests that arrived together (uvicorn starts each in its own task as its bytes come in)
reach ``read`` before it, so they share one ``read_many`` — on Redis one ``MGET`` and two
system calls for all of them instead of per request. The loop is blocked by the store for
one round trip per batch, and only while reads are fast per request (``InlineWhileFast``); a
slow store (large reads, Redis waiting out a timeout) is read in a worker thread instead.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TypeVar

from anyio import to_thread

from ailayer.features.stores.online import OnlineStore, OnlineValue, Read

T = TypeVar("T")
Found = list[list[OnlineValue | None]]


class InlineWhileFast:
    """Runs a blocking call on the event loop while such calls have been fast, else in a
    worker thread.

    A thread hop (and the GIL hand-over back) costs more than a local SQLite or Redis read
    of a few entities, so fast reads run inline. Once calls get slow (a large batch, a
    Redis that stopped answering and waits out its timeout), they go to a worker thread
    until the moving average of their own duration is fast again; so the event loop is
    held by at most one slow call, not by every one."""

    def __init__(self, fast_seconds: float = 0.002, weight: float = 0.2) -> None:
        self.fast_seconds = fast_seconds
        self.weight = weight
        self.average = 0.0

    async def run(self, call: Callable[[], T], requests: int = 1) -> T:
        """``call()``, inline or in a thread; ``requests``: how many requests it answers
        (a batch of fast reads is fast per request, and as fast inline as one by one)."""
        timing = [0.0]

        def timed() -> T:
            started = time.perf_counter()
            try:
                return call()
            finally:
                timing[0] = time.perf_counter() - started

        try:
            if self.average <= self.fast_seconds:
                return timed()
            return await to_thread.run_sync(timed)
        finally:
            self.average += self.weight * (timing[0] / requests - self.average)


class ReadBatcher:
    """``read`` answers a request's reads; reads queued in one loop iteration share one
    ``store.read_many``. Each event loop has its own queue."""

    def __init__(self, store: OnlineStore, runner: InlineWhileFast | None = None) -> None:
        self.store = store
        self.runner = runner or InlineWhileFast()
        self._queued: dict[asyncio.AbstractEventLoop, list[tuple[list[Read], asyncio.Future]]] = {}
        self._flushes: set[asyncio.Task] = set()  # referenced until done (asyncio keeps weak refs)
        self.batches = 0  # store calls made, for tests and curiosity
        self.requests = 0

    async def read(self, reads: list[Read]) -> Found:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Found] = loop.create_future()
        queued = self._queued.get(loop)
        if queued is None:
            queued = self._queued[loop] = []
            flush = loop.create_task(self._flush(loop))
            self._flushes.add(flush)
            flush.add_done_callback(self._flushes.discard)
        queued.append((reads, future))
        return await future

    async def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        batch = self._queued.pop(loop)
        everything = [read for reads, _ in batch for read in reads]
        self.batches += 1
        self.requests += len(batch)
        try:
            found = await self.runner.run(lambda: self.store.read_many(everything), len(batch))
        except Exception as exc:  # every waiting request answers with the store's error
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        start = 0
        for reads, future in batch:
            if not future.done():  # a request whose client went away is cancelled
                future.set_result(found[start : start + len(reads)])
            start += len(reads)
