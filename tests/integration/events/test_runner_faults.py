"""Fault tests for the consumer runner against the real brokers.

- kill -9 a runner process mid-batch: a second runner finishes the work and the totals
  (kept where the idempotency check is) come out exact: every payment once, none twice;
- a poison event: retried with backoff, dead-lettered with its error, the stream flows on,
  and a replay from the dead letters is processed once the handler is fixed.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from ailayer.events import (
    Backoff,
    ConsumerRunner,
    Event,
    EventBus,
    open_bus,
    open_idempotency_store,
)
from ailayer.events.deadletter import DLQ_GROUP, list_dead_letters, replay_dead_letters
from tests.support.brokers import GROUPS, Backend, delete_topics
from tests.support.events import events
from tests.support.payment_totals import (
    GROUP,
    applier,
    expected,
    forget,
    store_url_for,
    totals,
)
from tests.support.processes import read_until, reap

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

TOTAL = 40


async def _prepare(url: str, topic: str) -> None:
    bus = open_bus(url)
    sub = await bus.subscribe(topic, GROUP, "setup")  # the group exists before publishing
    await sub.close()
    await bus.publish(topic, events(TOTAL))
    await bus.close()


async def _survive(url: str, store_url: str, topic: str) -> tuple[int, int]:
    bus, store = open_bus(url), open_idempotency_store(store_url)
    apply = applier(store, topic)

    async def handle(event: Event) -> None:
        await apply(event)

    runner = ConsumerRunner(
        bus, topic, GROUP, handle, concurrency=4, batch_size=10, ack_wait=1.0,
        idempotency=store, fetch_timeout=0.3, stop_when_idle=True,
    )  # fmt: skip
    try:
        stats = await asyncio.wait_for(runner.run(), 20)
    finally:
        await store.close()
        await bus.close()
    return stats.processed, stats.duplicates


def test_a_runner_killed_mid_batch_applies_every_event_exactly_once(
    backend: Backend, tmp_path: Path
) -> None:
    topic, store_url = backend.topic(), store_url_for(backend.name, tmp_path)
    asyncio.run(_prepare(backend.url, topic))
    doomed = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.integration.events.runner_worker",
            backend.url,
            store_url,
            topic,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        applied_before = [
            x
            for x in read_until(doomed, "HOLD", "the doomed runner never held an event")
            if x.startswith("APPLIED")
        ]
        os.kill(doomed.pid, signal.SIGKILL)
        doomed.wait(timeout=10)
        processed, duplicates = asyncio.run(_survive(backend.url, store_url, topic))
        result = asyncio.run(totals(store_url, topic))
    finally:
        reap(doomed)
        asyncio.run(delete_topics(backend.url, {topic: GROUPS, f"{topic}-dlq": (DLQ_GROUP,)}))
        asyncio.run(forget(store_url, topic))
    assert len(applied_before) == 5
    assert duplicates >= 1, "the applied-but-unacked event was not recognised on redelivery"
    assert processed + duplicates >= TOTAL - 5
    assert result == expected(TOTAL), "a payment was lost or counted twice"


def test_a_poison_event_is_dead_lettered_and_the_stream_flows_on(backend: Backend) -> None:
    async def scenario(bus: EventBus, topic: str) -> None:
        done: list[int] = []
        tries: list[int] = []
        fixed = False

        async def handle(event: Event) -> None:
            if event.data["n"] == 7 and not fixed:
                tries.append(len(done))
                raise ValueError("amount is negative")
            done.append(event.data["n"])

        def runner() -> ConsumerRunner:
            return ConsumerRunner(
                bus, topic, GROUP, handle, max_attempts=3, ack_wait=1.0, fetch_timeout=0.2,
                backoff=Backoff(base=0.05, max=0.2, jitter=0.0), stop_when_idle=True,
            )  # fmt: skip

        first = runner()
        await bus.subscribe(topic, GROUP, "setup")
        await first._subscribe()  # declares the dead-letter group (RabbitMQ keeps no history)
        await bus.publish(topic, events(20))
        stats = await first.run()
        assert sorted(done) == [n for n in range(20) if n != 7]
        assert len(tries) == 3 and tries[-1] == 19, "the stream waited for the poison event"
        assert (stats.retried, stats.dead_lettered) == (2, 1)
        (letter,) = await list_dead_letters(bus, f"{topic}-dlq")
        assert letter.data == {"n": 7} and letter.extensions["dlqtopic"] == topic
        assert letter.extensions["dlqerror"] == "ValueError: amount is negative"
        assert letter.extensions["dlqattempts"] == 3

        fixed = True
        assert [t for t, _ in await replay_dead_letters(bus, f"{topic}-dlq")] == [topic]
        await runner().run()
        assert done.count(7) == 1
        assert await list_dead_letters(bus, f"{topic}-dlq") == []
        await bus.delete_topic(f"{topic}-dlq", (DLQ_GROUP,))

    backend.run(scenario)
