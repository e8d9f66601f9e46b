"""The consumer runner on the embedded bus: idempotency, retries, dead letters, shutdown."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from ailayer.core.errors import BackendUnavailable, InvalidInput
from ailayer.events import Backoff, ConsumerRunner, Event, EventBus, run_until_signalled
from ailayer.events.deadletter import list_dead_letters
from ailayer.events.handlers import SKIPPED
from ailayer.events.idempotency.memory import MemoryIdempotencyStore
from tests.support.events import embedded_bus, events, numbers

FAST = Backoff(base=0.02, max=0.1, jitter=0.0)


def runner(bus: EventBus, handler, **options) -> ConsumerRunner:  # type: ignore[no-untyped-def]
    options = {"ack_wait": 5.0, "fetch_timeout": 0.1, "backoff": FAST, **options}
    return ConsumerRunner(bus, "payments", "workers", handler, **options)


def run(tmp_path: Path, scenario: Callable[[EventBus], Awaitable[None]]) -> None:
    async def main() -> None:
        bus = embedded_bus(tmp_path)
        try:
            await asyncio.wait_for(scenario(bus), 10)
        finally:
            await bus.close()

    asyncio.run(main())


def test_every_event_is_handled_once_and_ids_already_seen_are_skipped(tmp_path: Path) -> None:
    async def scenario(bus: EventBus) -> None:
        sent = events(20)
        store = MemoryIdempotencyStore()
        await store.mark("acme", "workers", sent[5].id)  # as if processed before a crash
        got: list[Event] = []

        async def handle(event: Event) -> None:
            got.append(event)

        consumer = runner(bus, handle, idempotency=store, stop_when_idle=True, concurrency=4)
        await bus.publish("payments", sent)
        stats = await consumer.run()
        assert sorted(numbers(got)) == [n for n in range(20) if n != 5]
        assert (stats.processed, stats.duplicates, stats.lag) == (19, 1, 0)

    run(tmp_path, scenario)


def test_skipped_events_are_acked_but_not_recorded_as_processed(tmp_path: Path) -> None:
    """A worker bound to tenant A skips B's events: they leave its group, but no record
    says they were processed (nor takes room in the store's retention)."""

    async def scenario(bus: EventBus) -> None:
        (theirs,) = events(1, tenant="tenant-b")
        (ours,) = events(1, tenant="tenant-a")
        store = MemoryIdempotencyStore()
        got: list[Event] = []

        async def handle(event: Event) -> object:
            if event.tenant != "tenant-a":
                return SKIPPED
            got.append(event)
            return None

        await bus.publish("payments", [theirs, ours])
        stats = await runner(bus, handle, idempotency=store, stop_when_idle=True).run()
        assert got == [ours]
        assert (stats.processed, stats.skipped, stats.duplicates, stats.lag) == (1, 1, 0, 0)
        assert not await store.seen("tenant-b", "workers", theirs.id)
        assert await store.seen("tenant-a", "workers", ours.id)

    run(tmp_path, scenario)


def test_successful_deliveries_are_acked_in_batches(tmp_path: Path) -> None:
    async def scenario(bus: EventBus) -> None:
        calls: list[int] = []
        subscribe = bus.subscribe

        async def spying_subscribe(*args, **kwargs):  # type: ignore[no-untyped-def]
            sub = await subscribe(*args, **kwargs)
            ack_many = sub.ack_many

            async def spy(deliveries):  # type: ignore[no-untyped-def]
                calls.append(len(deliveries))
                await ack_many(deliveries)

            sub.ack_many = spy
            return sub

        bus.subscribe = spying_subscribe  # type: ignore[method-assign]
        await bus.publish("payments", events(50))
        stats = await runner(bus, lambda e: None, stop_when_idle=True, concurrency=8).run()
        assert (stats.processed, stats.lag, stats.released) == (50, 0, 0)
        assert sum(calls) == 50
        assert len(calls) < 50  # handlers finishing together share one ack_many

    run(tmp_path, scenario)


def test_sync_handlers_work_too(tmp_path: Path) -> None:
    async def scenario(bus: EventBus) -> None:
        got: list[int] = []
        await bus.publish("payments", events(3))
        await runner(bus, lambda e: got.append(e.data["n"]), stop_when_idle=True).run()
        assert sorted(got) == [0, 1, 2]

    run(tmp_path, scenario)


def test_a_poison_event_is_retried_with_backoff_then_dead_lettered(tmp_path: Path) -> None:
    async def scenario(bus: EventBus) -> None:
        tries: list[tuple[float, int]] = []
        done: list[int] = []

        async def handle(event: Event) -> None:
            if event.data["n"] == 2:
                tries.append((time.monotonic(), len(done)))
                raise ValueError("amount is negative")
            done.append(event.data["n"])

        await bus.publish("payments", events(10))
        stats = await runner(bus, handle, max_attempts=3, stop_when_idle=True).run()
        assert sorted(done) == [0, 1, 3, 4, 5, 6, 7, 8, 9] and len(tries) == 3
        gaps = [b[0] - a[0] for a, b in itertools.pairwise(tries)]
        assert gaps[0] >= 0.02 and gaps[1] >= 0.04  # exponential: 0.02 s, then 0.04 s
        assert tries[-1][1] == 9  # the rest flowed while the poison waited
        assert (stats.retried, stats.dead_lettered, stats.lag) == (2, 1, 0)
        (letter,) = await list_dead_letters(bus, "payments-dlq")
        assert letter.data == {"n": 2}
        assert letter.extensions["dlqerror"] == "ValueError: amount is negative"
        assert letter.extensions["dlqattempts"] == 3

    run(tmp_path, scenario)


def test_outages_are_retried_without_limit_never_dead_lettered(tmp_path: Path) -> None:
    async def scenario(bus: EventBus) -> None:
        calls: list[int] = []

        async def handle(event: Event) -> None:
            calls.append(1)
            if len(calls) < 4:
                raise BackendUnavailable("online store down")

        await bus.publish("payments", events(1))
        stats = await runner(bus, handle, max_attempts=1, stop_when_idle=True).run()
        assert (stats.processed, stats.retried, stats.dead_lettered) == (1, 3, 0)

    run(tmp_path, scenario)


def test_stop_finishes_running_handlers_and_hands_back_the_rest_at_once(
    tmp_path: Path,
) -> None:
    async def scenario(bus: EventBus) -> None:
        started: list[int] = []
        finished: list[int] = []

        async def handle(event: Event) -> None:
            started.append(event.data["n"])
            await asyncio.sleep(0.3)
            finished.append(event.data["n"])

        consumer = runner(bus, handle, concurrency=2, batch_size=10, ack_wait=30.0)
        await bus.publish("payments", events(10))
        task = asyncio.create_task(consumer.run())
        while len(started) < 2:
            await asyncio.sleep(0.01)
        consumer.stop()
        stats = await task
        assert sorted(finished) == sorted(started) and len(started) == 2
        assert (stats.processed, stats.released) == (2, 8)
        sub = await bus.subscribe("payments", "workers", "next", ack_wait=30.0)
        again = await sub.fetch(100, timeout=0.5)  # long before ack_wait: released, not leaked
        assert sorted(numbers([d.event for d in again])) == sorted(set(range(10)) - set(started))

    run(tmp_path, scenario)


def test_handlers_over_the_shutdown_timeout_are_cancelled_and_handed_back(
    tmp_path: Path,
) -> None:
    async def scenario(bus: EventBus) -> None:
        cancelled: list[int] = []

        async def hang(event: Event) -> None:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                cancelled.append(event.data["n"])
                raise

        consumer = runner(bus, hang, concurrency=3, shutdown_timeout=0.2, ack_wait=30.0)
        await bus.publish("payments", events(3))
        task = asyncio.create_task(consumer.run())
        while consumer.stats.in_flight < 3:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        consumer.stop()
        stats = await task
        assert sorted(cancelled) == [0, 1, 2] and stats.released == 3
        sub = await bus.subscribe("payments", "workers", "next", ack_wait=30.0)
        assert len(await sub.fetch(100, timeout=0.5)) == 3

    run(tmp_path, scenario)


def test_sigterm_stops_gracefully(tmp_path: Path) -> None:
    async def scenario(bus: EventBus) -> None:
        got: list[int] = []

        async def handle(event: Event) -> None:
            got.append(event.data["n"])
            if len(got) == 3:
                os.kill(os.getpid(), signal.SIGTERM)

        await bus.publish("payments", events(3))
        stats = await run_until_signalled(runner(bus, handle, concurrency=1))
        assert stats.processed == 3 and sorted(got) == [0, 1, 2]
        assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL

    run(tmp_path, scenario)


def test_lag_is_the_groups_backlog(tmp_path: Path) -> None:
    async def scenario(bus: EventBus) -> None:
        consumer = runner(bus, lambda e: None)
        await bus.subscribe("payments", "workers", "setup")
        await bus.publish("payments", events(7))
        assert await consumer.lag() == 7 and consumer.stats.lag == 7

    run(tmp_path, scenario)


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"concurrency": 0}, "concurrency"),
        ({"batch_size": 1001}, "batch_size"),
        ({"max_attempts": 0}, "max_attempts"),
        ({"dead_letter_topic": "Bad.Name"}, "dead_letter_topic"),
    ],
)
def test_bad_options_name_the_field(tmp_path: Path, options: dict, field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        runner(embedded_bus(tmp_path), lambda e: None, **options)
    assert caught.value.field == field
