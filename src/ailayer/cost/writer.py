"""The background task that writes a ``UsageMeter`` every ``interval`` seconds.

Writes run in a worker thread, so a slow database never stalls the event loop; a failed
write is logged and its usage is lost (never retried into a double count); ``stop``
writes once more, so a process that shuts down gracefully loses nothing it measured.
"""

from __future__ import annotations

import asyncio
import logging

from anyio import to_thread

from ailayer.cost.usage import UsageMeter

logger = logging.getLogger("ailayer.cost")


class UsageWriter:
    def __init__(self, meter: UsageMeter, interval: float = 60.0) -> None:
        self.meter = meter
        self.interval = interval
        self._task: asyncio.Task | None = None
        self._stop = asyncio.Event()

    async def start(self) -> None:
        if self._task is None:
            self._stop = asyncio.Event()
            self._task = asyncio.create_task(self._run(), name="cost-usage-writer")

    async def stop(self) -> None:
        """Stop the loop, then write what was measured since its last write."""
        if self._task is not None:
            self._stop.set()
            await self._task
            self._task = None
        await self._write()

    async def _run(self) -> None:
        while not self._stop.is_set():
            try:
                await asyncio.wait_for(self._stop.wait(), self.interval)
            except TimeoutError:
                await self._write()

    async def _write(self) -> None:
        try:
            await to_thread.run_sync(self.meter.flush)
        except Exception as exc:
            logger.warning(
                "cost usage: writing to the metadata database (metadata_url) failed, that "
                "period's usage is lost: %s",
                exc,
            )
