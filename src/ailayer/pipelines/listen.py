"""Alerts from the bus to the scheduler: a consumer of the alert topic in a thread.

The monitor publishes ``ailayer.alert.fired`` and ``ailayer.alert.resolved`` events on
the ``alert_topic``; this consumer group (one per deployment, shared by all scheduler
replicas, so each alert reaches one of them) hands fired ones to ``Scheduler.on_alert``
for the event's tenant — the tenant of the envelope, which the bus sets from the
publisher's key, never one named in the alert's body.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from typing import Any

from ailayer.events import SKIPPED, ConsumerRunner, Event, EventBus
from ailayer.events.handlers import Skipped
from ailayer.monitoring.alerting.notify import FIRED
from ailayer.pipelines.scheduler import Scheduler

logger = logging.getLogger("ailayer.scheduler")

GROUP = "ailayer-scheduler"


def alert_handler(scheduler: Scheduler) -> Callable[[Event], Skipped | None]:
    """The consumer's handler: fired alerts to the scheduler, anything else skipped."""

    def handle(event: Event) -> Skipped | None:
        if event.type != FIRED or not isinstance(event.data, dict):
            return SKIPPED
        scheduler.on_alert(event.tenant, event.data)
        return None

    return handle


class AlertListener:
    """``ConsumerRunner`` on the alert topic, on an event loop of its own in a daemon
    thread; ``stop`` ends it gracefully and closes its bus."""

    def __init__(
        self, scheduler: Scheduler, open_bus: Callable[[], EventBus], topic: str, **runner: Any
    ) -> None:
        self.scheduler, self.open_bus, self.topic, self.options = scheduler, open_bus, topic, runner
        self.runner: ConsumerRunner | None = None
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name="ailayer-scheduler-alerts", daemon=True
        )

    def start(self) -> AlertListener:
        self._thread.start()
        self._ready.wait(10)
        return self

    def stop(self, timeout: float = 30.0) -> None:
        if self.runner is not None and self._loop.is_running():
            self._loop.call_soon_threadsafe(self.runner.stop)
        self._thread.join(timeout)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._consume())
        except Exception:
            logger.exception("scheduler: the alert listener stopped")
        finally:
            self._ready.set()
            self._loop.close()

    async def _consume(self) -> None:
        bus = self.open_bus()
        try:
            self.runner = ConsumerRunner(
                bus, self.topic, GROUP, alert_handler(self.scheduler), **self.options
            )
            self._ready.set()
            await self.runner.run()
        finally:
            await bus.close()
