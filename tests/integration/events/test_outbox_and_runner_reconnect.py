"""Cut the broker connection mid-stream: the outbox spools and drains, the runner waits
out the outage, and every event is applied exactly once when the connection is back.

Producer (``Outbox``) and consumer (``ConsumerRunner``) both reach the broker through a
loopback TCP proxy that the test cuts and restores; neither is restarted or reopened.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

import pytest

from ailayer.events import Backoff, ConsumerRunner, Event, Outbox, open_bus
from tests.support.brokers import GROUPS, Backend, delete_topics
from tests.support.events import events
from tests.support.tcp_proxy import TcpProxy

pytestmark = pytest.mark.integration

PORTS = {"redis": 6379, "nats": 4222, "amqp": 5672}
PER_PHASE = 100


async def _until(condition, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


def test_a_cut_connection_loses_nothing_and_applies_nothing_twice(
    backend: Backend, tmp_path: Path
) -> None:
    if backend.name == "embedded":
        pytest.skip("the embedded bus is a local file: there is no connection to cut")
    proxy = TcpProxy("127.0.0.1", PORTS[backend.name])
    proxy.start()
    url = backend.url.replace(f":{PORTS[backend.name]}", f":{proxy.port}")
    topic = backend.topic()
    applied: Counter[str] = Counter()

    async def handle(event: Event) -> None:
        applied[event.id] += 1

    async def scenario() -> None:
        producer_bus, consumer_bus = open_bus(url), open_bus(url)
        outbox = Outbox(producer_bus, tmp_path / "outbox.db", retry_interval=0.2)
        runner = ConsumerRunner(
            consumer_bus, topic, "workers", handler=handle, ack_wait=1.0, fetch_timeout=0.2,
            backoff=Backoff(base=0.05, max=0.5),
        )  # fmt: skip
        await runner._subscribe()  # the group exists before the first publish (RabbitMQ)
        await outbox.start()
        consuming = asyncio.create_task(runner.run())
        sent = events(3 * PER_PHASE)
        try:
            for event in sent[:PER_PHASE]:
                assert outbox.offer(topic, event)
            await _until(lambda: len(applied) >= PER_PHASE // 2, 10, "the first events")
            proxy.stop()
            for event in sent[PER_PHASE : 2 * PER_PHASE]:
                assert outbox.offer(topic, event)  # never blocks, broker or not
            await asyncio.sleep(1.0)
            proxy.start()
            for event in sent[2 * PER_PHASE :]:
                assert outbox.offer(topic, event)
            await _until(lambda: len(applied) == len(sent), 20, "every event")
            await asyncio.sleep(1.2)  # past ack_wait: late redeliveries would show up now
        finally:
            runner.stop()
            await consuming
            await outbox.close()
            await producer_bus.close()
            await consumer_bus.close()
        assert set(applied) == {e.id for e in sent}, "events were lost"
        assert max(applied.values()) == 1, "an event was applied twice"

    try:
        asyncio.run(asyncio.wait_for(scenario(), timeout=45))
    finally:
        proxy.stop()
        asyncio.run(delete_topics(backend.url, {topic: GROUPS, f"{topic}-dlq": ("dlq",)}))
