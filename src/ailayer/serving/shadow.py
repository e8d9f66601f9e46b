"""Shadow traffic: a copy of live records for each shadow variant, off the live path.

The predictor offers a copy after the live answer is computed; the copy goes into one
bounded ``asyncio.Queue`` per process and a single worker task runs it (the model in a
worker thread, so a slow shadow never holds the event loop). When the queue is full the
copy is dropped and counted: a shadow that fails, hangs or falls behind costs the live
answer nothing. Each shadow answer goes to the prediction log under the variant's name
(its target's ``alias``), a failure as a failed row, and each record's prediction is
compared with the live one.

Counters are per (tenant, endpoint, variant) and per process: ``sent`` (queued),
``dropped`` (queue full), ``failed`` (the shadow raised), and per record ``agreed`` /
``disagreed`` with the live prediction.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any

from ailayer.core.errors import AilayerError
from ailayer.serving.ports import PredictionSink
from ailayer.serving.target import Target

logger = logging.getLogger("ailayer.shadow")

DEFAULT_QUEUE_SIZE = 1000
ShadowRun = Callable[[str, Target, list[Any]], Awaitable[tuple[dict, list[dict]]]]


@dataclass
class ShadowCounts:
    sent: int = 0
    dropped: int = 0
    failed: int = 0
    agreed: int = 0
    disagreed: int = 0


@dataclass(frozen=True, slots=True)
class ShadowJob:
    tenant_id: str
    target: Target
    records: list[Any]
    live: list[Any]  # the live prediction of each record


class Shadows:
    """The process's shadow queue, its worker and its counters."""

    def __init__(
        self,
        run: ShadowRun,
        log: PredictionSink | None = None,
        capacity: int = DEFAULT_QUEUE_SIZE,
    ) -> None:
        self.run = run
        self.log = log
        self.capacity = capacity
        self.counts: dict[tuple[str, str, str], ShadowCounts] = {}
        self._queue: asyncio.Queue[ShadowJob] | None = None
        self._task: asyncio.Task | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def offer(self, tenant_id: str, shadows: tuple[Target, ...], records: list, live: list) -> None:
        """Queue a copy of ``records`` for each shadow; never waits, never raises."""
        queue = self._ensure_worker()
        values = [item["prediction"] for item in live]
        for target in shadows:
            counts = self._counts(tenant_id, target)
            try:
                queue.put_nowait(ShadowJob(tenant_id, target, records, values))
            except asyncio.QueueFull:
                counts.dropped += 1
            else:
                counts.sent += 1

    def of(self, tenant_id: str, endpoint: str) -> dict[str, dict[str, int]]:
        """This process's counters of one endpoint's shadows, by variant."""
        return {
            variant: asdict(counts)
            for (tenant, name, variant), counts in sorted(self.counts.items())
            if tenant == tenant_id and name == endpoint
        }

    @property
    def waiting(self) -> int:
        return 0 if self._queue is None else self._queue.qsize()

    async def stop(self) -> None:
        """Stop the worker; copies still queued are not run."""
        task, self._task, self._queue, self._loop = self._task, None, None, None
        if task is None or task.done():
            return
        if task.get_loop() is not asyncio.get_running_loop():
            return  # a loop that is gone took its worker with it
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    def _counts(self, tenant_id: str, target: Target) -> ShadowCounts:
        key = (tenant_id, target.endpoint, target.alias)
        counts = self.counts.get(key)
        if counts is None:
            counts = self.counts[key] = ShadowCounts()
        return counts

    def _ensure_worker(self) -> asyncio.Queue[ShadowJob]:
        """The queue of the running loop's worker, started on first use (a new loop, as
        in a test client's per-request loop, gets a new queue and worker)."""
        loop = asyncio.get_running_loop()
        alive = self._task is not None and not self._task.done()
        if self._queue is None or self._loop is not loop or not alive:
            self._queue = asyncio.Queue(self.capacity)
            self._loop = loop
            self._task = loop.create_task(self._work(self._queue), name="shadow-traffic")
        return self._queue

    async def _work(self, queue: asyncio.Queue[ShadowJob]) -> None:
        while True:
            job = await queue.get()
            try:
                await self._handle(job)
            except Exception:  # a broken log must not stop the worker
                logger.exception("shadow %s of %s failed", job.target.alias, job.target.endpoint)
            finally:
                queue.task_done()

    async def _handle(self, job: ShadowJob) -> None:
        counts = self._counts(job.tenant_id, job.target)
        started = time.perf_counter()
        try:
            response, used = await self.run(job.tenant_id, job.target, job.records)
        except Exception as exc:
            counts.failed += 1
            if self.log is not None:
                code = exc.code if isinstance(exc, AilayerError) else "internal_error"
                message = exc.message if isinstance(exc, AilayerError) else str(exc)
                self.log.record_failure(job.tenant_id, job.target, started, f"{code}: {message}")
            return
        predictions = response["predictions"]
        if self.log is not None:
            self.log.record(job.tenant_id, job.target, used, predictions, started)
        for live, item in zip(job.live, predictions, strict=True):
            if same_prediction(live, item["prediction"]):
                counts.agreed += 1
            else:
                counts.disagreed += 1


def same_prediction(a: Any, b: Any) -> bool:
    """Equal labels, or numbers within a relative 1e-6 (regressors rarely match exactly)."""
    numbers = (int, float)
    if isinstance(a, numbers) and isinstance(b, numbers) and not isinstance(a, bool):
        return math.isclose(float(a), float(b), rel_tol=1e-6, abs_tol=1e-12)
    return a == b
