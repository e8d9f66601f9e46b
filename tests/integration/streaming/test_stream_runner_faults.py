"""``StreamRunner`` on every real broker (its ``fetch_batch`` / ``ack_batches`` path):
killed with -9 after a commit was logged and written online but not acked, a restarted
runner skips the redelivered events and ends with exactly the aggregates of the events
sent — none lost, none counted twice — and each event id in the offline log once. The
same holds when its broker connection is cut mid-stream and restored (through a TCP
proxy; the runner is neither restarted nor reopened).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import orjson
import pytest

from ailayer.events import new_event, open_bus
from ailayer.features import open_online_store
from ailayer.features.catalog import storage_name
from ailayer.features.files import open_folder
from ailayer.features.streaming.log import StreamLog
from tests.support.brokers import GROUPS, Backend, delete_topics
from tests.support.processes import reap
from tests.support.stream_worker import GROUP, T0, TENANT, runner, view
from tests.support.tcp_proxy import TcpProxy

pytestmark = pytest.mark.integration

TOTAL = 1500
ACCOUNTS = 10


def payments(topic: str) -> list:  # type: ignore[type-arg]
    return [
        new_event(
            "payment.created", "/billing",
            {"account_id": i % ACCOUNTS, "amount": float(i % 7),
             "at": (T0 + timedelta(seconds=i)).isoformat()},
            tenant=TENANT,
        )
        for i in range(TOTAL)
    ]  # fmt: skip


def expected() -> dict[int, tuple[int, float]]:
    counts: Counter[int] = Counter(i % ACCOUNTS for i in range(TOTAL))
    sums: Counter[int] = Counter()
    for i in range(TOTAL):
        sums[i % ACCOUNTS] += float(i % 7)
    return {a: (counts[a], sums[a]) for a in range(ACCOUNTS)}


def test_a_stream_runner_killed_after_logging_applies_every_event_once(
    backend: Backend,
    tmp_path: Path,
) -> None:
    topic, offline_dir = backend.topic(), str(tmp_path / "offline")
    online_url = f"sqlite:///{tmp_path / 'online.db'}"
    sent = payments(topic)

    async def publish() -> None:
        bus = open_bus(backend.url)
        try:
            await bus.subscribe(topic, GROUP, "setup")  # the group exists first (RabbitMQ)
            for start in range(0, TOTAL, 250):
                await bus.publish(topic, sent[start : start + 250])
        finally:
            await bus.close()

    async def restart() -> tuple[int, int]:
        bus, online = open_bus(backend.url), open_online_store(online_url)
        try:
            survivor = runner(bus, offline_dir, online, topic, "survivor", stop_when_idle=True)
            stats = await asyncio.wait_for(survivor.run(), 60)
            return stats.applied, stats.duplicates
        finally:
            online.close()
            await bus.close()

    asyncio.run(publish())
    doomed = subprocess.Popen(
        [sys.executable, "-m", "tests.support.stream_worker",
         backend.url, offline_dir, online_url, topic],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert doomed.stdout is not None
        assert doomed.stdout.readline().strip() == "HOLD"
        os.kill(doomed.pid, signal.SIGKILL)
        doomed.wait(timeout=10)
        applied, duplicates = asyncio.run(restart())
    finally:
        reap(doomed)
        asyncio.run(delete_topics(backend.url, {topic: [*GROUPS, GROUP], f"{topic}-dlq": ["dlq"]}))
    assert duplicates >= 1, "the logged-but-unacked events were not recognised"
    assert 0 < applied < TOTAL  # the doomed runner's logged commits are not applied again
    assert_exactly_once(topic, online_url, offline_dir)


def assert_exactly_once(topic: str, online_url: str, offline_dir: str) -> None:
    """The online aggregates are those of every event sent, once; so is the offline log."""
    online = open_online_store(online_url)
    try:
        keys = [orjson.dumps([a]).decode() for a in range(ACCOUNTS)]
        found = online.read_batch(TENANT, storage_name(view(topic)), keys, ["n", "total"])
    finally:
        online.close()
    got = {a: (v.values["n"], v.values["total"]) for a, v in enumerate(found) if v is not None}
    assert got == expected(), "a payment was lost or counted twice"
    log = StreamLog(open_folder(f"file://{offline_dir}"), view(topic))
    ids = Counter(event_id for event_id, _, _ in log.read_events(-(2**62)))
    assert len(ids) == TOTAL and set(ids.values()) == {1}


PORTS = {"redis": 6379, "nats": 4222, "amqp": 5672}


def test_a_stream_runner_rides_out_a_cut_connection(
    backend: Backend,
    tmp_path: Path,
) -> None:
    if backend.name == "embedded":
        pytest.skip("the embedded bus is a local file: there is no connection to cut")
    proxy = TcpProxy("127.0.0.1", PORTS[backend.name])
    proxy.start()
    cut_url = backend.url.replace(f":{PORTS[backend.name]}", f":{proxy.port}")
    topic, offline_dir = backend.topic(), str(tmp_path / "offline")
    online_url = f"sqlite:///{tmp_path / 'online.db'}"
    sent = payments(topic)
    committed = 0

    def on_commit(times: list[int]) -> None:
        nonlocal committed
        committed += len(times)

    async def until(count: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while committed < count:
            assert time.monotonic() < deadline, f"{committed} of {count} events committed"
            await asyncio.sleep(0.02)

    async def scenario() -> None:
        producer, consumer = open_bus(backend.url), open_bus(cut_url)
        online = open_online_store(online_url)
        stream = runner(consumer, offline_dir, online, topic, "c1", on_commit=on_commit)
        try:
            await producer.subscribe(topic, GROUP, "setup")  # the group exists (RabbitMQ)
            running = asyncio.create_task(stream.run())
            await producer.publish(topic, sent[:500])
            await until(200, 20)
            proxy.stop()
            await producer.publish(topic, sent[500:1000])
            await asyncio.sleep(1.0)
            proxy.start()
            await producer.publish(topic, sent[1000:])
            await until(TOTAL, 30)
            await asyncio.sleep(1.2)  # past ack_wait: redeliveries would be applied now
            stream.stop()
            await running
        finally:
            online.close()
            await producer.close()
            await consumer.close()

    try:
        asyncio.run(asyncio.wait_for(scenario(), timeout=60))
    finally:
        proxy.stop()
        asyncio.run(delete_topics(backend.url, {topic: [*GROUPS, GROUP], f"{topic}-dlq": ["dlq"]}))
    assert committed == TOTAL
    assert_exactly_once(topic, online_url, offline_dir)
