"""The background task that moves the prediction log from its buffer to storage.

On start it replays what killed processes left in their journals. It stages the buffer
into the log's backend every ``backend.stage_interval`` seconds (a log process: at every
poll), flushes every ``interval`` seconds (sooner when ``batch_rows`` are queued, for a
backend that writes here), and once more on ``stop``. Stages and flushes run in a worker
thread, so a slow disk never stalls the event loop (and so never the predict path);
drops are logged at most once per interval.
The app's lifespan starts and stops it; any asyncio program can do the same
(``async with LogWriter(log): ...``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from types import TracebackType

from anyio import to_thread

from ailayer.monitoring.log.predictions import PredictionLog

logger = logging.getLogger("ailayer.monitoring")

DEFAULT_INTERVAL = 1.0
DEFAULT_BATCH_ROWS = 10_000


class LogWriter:
    def __init__(
        self,
        log: PredictionLog,
        interval: float = DEFAULT_INTERVAL,
        batch_rows: int = DEFAULT_BATCH_ROWS,
    ) -> None:
        self.log = log
        self.interval = interval
        self.batch_rows = batch_rows
        self._task: asyncio.Task | None = None
        self._stopping = False
        self._reported_drops = log.dropped

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        if not self.running:
            try:
                await to_thread.run_sync(self.log.recover)
            except Exception:
                logger.exception("prediction log: replaying journals failed; kept for later")
            self._stopping = False
            self._task = asyncio.create_task(self._run(), name="prediction-log-writer")

    async def stop(self) -> None:
        """Let a write in progress finish, then flush what is left."""
        self._stopping = True
        if self._task is not None:
            await self._task
            self._task = None
        await to_thread.run_sync(self.log.flush)
        self._report_drops()

    async def __aenter__(self) -> LogWriter:
        await self.start()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def _run(self) -> None:
        poll = min(self.interval, 0.05)
        backend = self.log.backend
        last = staged = time.monotonic()
        writing: asyncio.Task | None = None
        while not self._stopping:
            await asyncio.sleep(poll)
            now = time.monotonic()
            queued = self.log.buffer.rows
            early = backend.writes_early and queued >= self.batch_rows
            if (writing is None or writing.done()) and (now - last >= self.interval or early):
                last = staged = now
                writing = asyncio.create_task(self._flush())
            elif now - staged >= backend.stage_interval and queued:
                staged = now
                await to_thread.run_sync(self.log.stage)  # also while a slow write runs
        if writing is not None:
            await writing

    async def _flush(self) -> None:
        await to_thread.run_sync(self.log.flush)
        self._report_drops()

    def _report_drops(self) -> None:
        dropped = self.log.dropped
        if dropped > self._reported_drops:
            logger.warning(
                "prediction log buffer full: %d rows dropped since the last report (%d in all)",
                dropped - self._reported_drops,
                dropped,
            )
            self._reported_drops = dropped
