"""The consumer runner: a group's handler applied to every event, at least once, never twice.

``ConsumerRunner(bus, topic, group, handler, ...).run()`` subscribes one consumer to the
group and loops: fetch up to ``batch_size`` deliveries (never holding more than that), run
the handler on up to ``concurrency`` of them at once, and settle each one:

1. its (tenant, id) is already in the idempotency store → ack without calling the handler;
2. the handler returned → record the (tenant, id), then ack; it returned ``SKIPPED`` (not
   its event) → ack, recording nothing;
3. the handler raised → ``nack(backoff.delay(attempt))``; once ``attempt`` reaches
   ``max_attempts``, publish a dead letter (``deadletter.py``) and ack the original. An
   outage (``BackendUnavailable``, from the handler or the store) is retried without limit
   and never dead-lettered; a dead letter that cannot be published is nacked, not dropped.

Acks of cases 1 and 2 are batched: they join the next ``Subscription.ack_many`` call, and
while one is in flight the next batch collects every delivery handled meanwhile (one broker
round trip per batch, never a wait for a timer). A handler's task ends when its ack did.

``stop()`` (wired to SIGTERM/SIGINT by ``run_until_signalled``) ends it gracefully: no new
fetches, deliveries not yet started are handed back at once (``nack(0)``), running handlers
get ``shutdown_timeout`` seconds to finish, then are cancelled and handed back too.
A broker outage while running is logged and waited out; the bus reconnects by itself.

``stats`` is a live ``RunnerStats``; ``stats.lag`` (the group's lag, refreshed every
``lag_interval`` seconds, or on demand by ``lag()``) is the autoscaling signal.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass

from ailayer.core.errors import BackendUnavailable, InvalidInput
from ailayer.core.names import check_bus_name
from ailayer.events.bus import DEFAULT_ACK_WAIT, MAX_FETCH, Delivery, EventBus, Subscription
from ailayer.events.deadletter import DLQ_ACK_WAIT, DLQ_GROUP, dead_letter, dead_letter_topic
from ailayer.events.handlers import SKIPPED, Handler, as_async
from ailayer.events.idempotency import IdempotencyStore
from ailayer.events.idempotency.memory import MemoryIdempotencyStore
from ailayer.events.retry import Backoff

logger = logging.getLogger(__name__)

OUTAGE_BACKOFF = Backoff(base=0.2, max=5.0)


@dataclass
class RunnerStats:
    """Counters since start, and the last lag seen; read by metrics and tests."""

    processed: int = 0  # handler returned, id recorded, acked
    duplicates: int = 0  # id already processed: acked without the handler
    skipped: int = 0  # handler returned SKIPPED (not its event): acked, nothing recorded
    retried: int = 0  # failed and handed back with a backoff delay
    dead_lettered: int = 0  # failed max_attempts times, published to the dead-letter topic
    released: int = 0  # handed back at shutdown
    settle_errors: int = 0  # ack/nack lost to an outage (the event comes back: at least once)
    in_flight: int = 0  # deliveries held right now
    lag: int | None = None  # the group's lag (undelivered + unacked), the autoscaling gauge


class ConsumerRunner:
    """One consumer of ``group`` on ``topic`` running ``handler``; see the module docstring."""

    def __init__(
        self,
        bus: EventBus,
        topic: str,
        group: str,
        handler: Handler,
        *,
        consumer: str | None = None,
        concurrency: int = 8,
        batch_size: int = 100,
        max_attempts: int = 5,
        backoff: Backoff | None = None,
        ack_wait: float = DEFAULT_ACK_WAIT,
        idempotency: IdempotencyStore | None = None,
        dead_letter_topic: str | None = None,
        fetch_timeout: float = 1.0,
        shutdown_timeout: float = 10.0,
        lag_interval: float = 5.0,
        stop_when_idle: bool = False,
    ) -> None:
        self.bus, self.topic, self.group = (
            bus,
            check_bus_name("topic", topic),
            check_bus_name("group", group),
        )
        self.consumer = check_bus_name(
            "consumer", consumer or f"c-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        )
        self.dead_letter_topic = check_bus_name(
            "dead_letter_topic", dead_letter_topic or _default_dlq(topic)
        )
        _check_positive(concurrency=concurrency, max_attempts=max_attempts)
        if not 1 <= batch_size <= MAX_FETCH:
            raise InvalidInput(f"batch_size must be 1-{MAX_FETCH}", field="batch_size")
        self.concurrency, self.batch_size, self.max_attempts = concurrency, batch_size, max_attempts
        self.backoff = backoff or Backoff()
        self.ack_wait, self.fetch_timeout = ack_wait, fetch_timeout
        self.shutdown_timeout, self.lag_interval = shutdown_timeout, lag_interval
        self.stop_when_idle = stop_when_idle
        self.idempotency = idempotency or MemoryIdempotencyStore()
        self.stats = RunnerStats()
        self._handler = as_async(handler)
        self._slots = asyncio.Semaphore(concurrency)
        self._stopping = asyncio.Event()
        self._held: dict[asyncio.Task[None], Delivery] = {}
        self._running: set[asyncio.Task[None]] = set()
        self._outages = 0
        self._acks: _AckBatcher | None = None

    @property
    def consuming(self) -> bool:
        """Subscribed, and the broker answered the latest fetch (a role's ``/readyz``)."""
        return self._acks is not None and self._outages == 0

    def stop(self) -> None:
        """Ask ``run`` to finish gracefully; safe to call from a signal handler."""
        self._stopping.set()

    async def lag(self) -> int:
        """The group's lag now (also stored in ``stats.lag``)."""
        self.stats.lag = await self.bus.lag(self.topic, self.group)
        return self.stats.lag

    async def run(self) -> RunnerStats:
        """Consume until ``stop()`` (or, with ``stop_when_idle``, until the lag is 0)."""
        sub = await self._subscribe()
        if sub is None:
            return self.stats
        self._acks = _AckBatcher(sub)
        watcher = asyncio.create_task(self._watch_lag())
        try:
            await self._loop(sub)
        finally:
            watcher.cancel()
            await self._drain()
            with contextlib.suppress(BackendUnavailable):
                await sub.close()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        return self.stats

    async def _subscribe(self) -> Subscription | None:
        """Join the group and declare the dead-letter group, waiting out an outage."""
        while not self._stopping.is_set():
            try:
                sub = await self.bus.subscribe(
                    self.topic, self.group, self.consumer, ack_wait=self.ack_wait
                )
                letters = await self.bus.subscribe(
                    self.dead_letter_topic, DLQ_GROUP, self.consumer, ack_wait=DLQ_ACK_WAIT
                )
                await letters.close()  # RabbitMQ drops events for a topic without a group
                return sub
            except BackendUnavailable as exc:
                await self._outage("subscribe", exc)
        return None

    async def _loop(self, sub: Subscription) -> None:
        while not self._stopping.is_set():
            room = self.batch_size - len(self._held)
            if room <= 0:
                await asyncio.wait(
                    list(self._held),
                    timeout=self.fetch_timeout,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                continue
            batch = await self._fetch(sub, room)
            for delivery in batch:
                self._start(delivery)
            if self.stop_when_idle and not batch and not self._held and await self._idle():
                return

    async def _fetch(self, sub: Subscription, limit: int) -> list[Delivery]:
        try:
            batch = await sub.fetch(limit, timeout=self.fetch_timeout)
        except BackendUnavailable as exc:
            await self._outage("fetch", exc)
            return []
        self._outages = 0
        return batch

    async def _outage(self, what: str, exc: BaseException) -> None:
        self._outages += 1
        delay = OUTAGE_BACKOFF.delay(self._outages)
        logger.warning(
            "%s %s/%s failed, retrying in %.1fs: %s", what, self.topic, self.group, delay, exc
        )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), delay)

    async def _idle(self) -> bool:
        try:
            return await self.lag() == 0
        except BackendUnavailable:
            return False

    def _start(self, delivery: Delivery) -> None:
        task = asyncio.create_task(self._process(delivery))
        self._held[task] = delivery
        self.stats.in_flight = len(self._held)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._held.pop(task, None)
        self._running.discard(task)
        self.stats.in_flight = len(self._held)
        if not task.cancelled() and task.exception() is not None:
            logger.error("consumer runner bug", exc_info=task.exception())

    async def _process(self, delivery: Delivery) -> None:
        async with self._slots:
            if self._stopping.is_set():
                return  # not started: _drain hands it back at once
            self._running.add(asyncio.current_task())  # type: ignore[arg-type]
            await self._handle(delivery)

    async def _handle(self, delivery: Delivery) -> None:
        event = delivery.event
        tenant = event.tenant or ""  # the bus refuses events without one
        try:
            if await self.idempotency.seen(tenant, self.group, event.id):
                await self._settle(self._ack(delivery))
                self.stats.duplicates += 1
                return
            skipped = await self._handler(event) is SKIPPED
            if not skipped:
                await self.idempotency.mark(tenant, self.group, event.id)
        except Exception as exc:
            await self._failed(delivery, exc)
            return
        await self._settle(self._ack(delivery))
        if skipped:
            self.stats.skipped += 1
        else:
            self.stats.processed += 1

    def _ack(self, delivery: Delivery) -> Awaitable[None]:
        return self._acks.ack(delivery) if self._acks is not None else delivery.ack()

    async def _failed(self, delivery: Delivery, exc: Exception) -> None:
        event = delivery.event
        if isinstance(exc, BackendUnavailable) or delivery.attempt < self.max_attempts:
            delay = self.backoff.delay(delivery.attempt)
            logger.warning(
                "event %s failed on attempt %d, retrying in %.2fs: %r",
                event.id,
                delivery.attempt,
                delay,
                exc,
            )
            await self._settle(delivery.nack(delay))
            self.stats.retried += 1
            return
        await self._dead_letter(delivery, exc)

    async def _dead_letter(self, delivery: Delivery, exc: Exception) -> None:
        letter = dead_letter(
            delivery.event, topic=self.topic, group=self.group, error=exc, attempts=delivery.attempt
        )
        try:
            await self.bus.publish(self.dead_letter_topic, [letter])
        except BackendUnavailable as outage:
            logger.warning("cannot dead-letter %s yet: %s", delivery.event.id, outage)
            await self._settle(delivery.nack(self.backoff.delay(delivery.attempt)))
            return
        logger.error(
            "event %s dead-lettered to %s after %d attempts: %r",
            delivery.event.id,
            self.dead_letter_topic,
            delivery.attempt,
            exc,
        )
        await self._settle(delivery.ack())
        self.stats.dead_lettered += 1

    async def _settle(self, call: Awaitable[None]) -> None:
        try:
            await call
        except BackendUnavailable as exc:
            self.stats.settle_errors += 1
            logger.warning("settling a delivery failed (it will come back): %s", exc)

    async def _drain(self) -> None:
        """Hand back what has not started; give running handlers ``shutdown_timeout``."""
        self._stopping.set()
        held = dict(self._held)
        for task in held:
            if task not in self._running:
                task.cancel()
        running = [t for t in held if t in self._running]
        if running:
            _, late = await asyncio.wait(running, timeout=self.shutdown_timeout)
            for task in late:
                task.cancel()
        await asyncio.gather(*held, return_exceptions=True)
        if self._acks is not None:
            await self._acks.wait()  # acks already queued go out before anything is released
        for delivery in held.values():
            if not delivery.settled:
                await self._settle(delivery.nack(0))
                self.stats.released += 1

    async def _watch_lag(self) -> None:
        while True:
            with contextlib.suppress(BackendUnavailable):
                await self.lag()
            await asyncio.sleep(self.lag_interval)


class _AckBatcher:
    """Group commit for acks: ``ack(d)`` queues ``d`` and returns once a ``ack_many`` that
    included it finished (or raises what it raised). One ``ack_many`` runs at a time; the
    deliveries queued while it runs go out together in the next."""

    def __init__(self, sub: Subscription) -> None:
        self.sub = sub
        self._queued: list[tuple[Delivery, asyncio.Future[None]]] = []
        self._task: asyncio.Task[None] | None = None

    async def ack(self, delivery: Delivery) -> None:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queued.append((delivery, done))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._flush())
        await done

    async def wait(self) -> None:
        """Until every queued ack has been sent (or failed)."""
        while self._task is not None and not self._task.done():
            await asyncio.shield(self._task)

    async def _flush(self) -> None:
        while self._queued:
            batch, self._queued = self._queued, []
            error: BaseException | None = None
            try:
                await self.sub.ack_many([delivery for delivery, _ in batch])
            except Exception as exc:  # handed to every waiter; BackendUnavailable is expected
                error = exc
            for _, done in batch:
                if done.done():  # its handler task was cancelled meanwhile
                    continue
                if error is None:
                    done.set_result(None)
                else:
                    done.set_exception(error)


def _default_dlq(topic: str) -> str:
    check_bus_name("topic", topic)
    return dead_letter_topic(topic)


def _check_positive(**values: int) -> None:
    for name, value in values.items():
        if value < 1:
            raise InvalidInput(f"{name} must be 1 or more", field=name)


async def run_until_signalled(runner: ConsumerRunner) -> RunnerStats:
    """``runner.run()`` with SIGTERM and SIGINT mapped to a graceful ``stop()``."""
    loop = asyncio.get_running_loop()
    signals = (signal.SIGTERM, signal.SIGINT)
    for sig in signals:
        loop.add_signal_handler(sig, runner.stop)
    try:
        return await runner.run()
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)
