"""A consumer killed with SIGKILL mid-batch loses nothing: a survivor processes the rest.

Both consumers are real processes (``crash_worker.py``) on the same group. The doomed one
acks 3 of its 10 events and hangs; the test kills it with ``kill -9``; the survivor then
receives the 7 it held (after ack_wait, or at once on RabbitMQ) and everything else.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys

import pytest

from ailayer.events import open_bus
from tests.support.brokers import GROUPS, Backend, delete_topics
from tests.support.events import events
from tests.support.processes import read_until, reap

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

TOTAL = 30


def _worker(url: str, topic: str, mode: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.integration.events.crash_worker", url, topic, mode],
        stdout=subprocess.PIPE,
        text=True,
    )


def _acked(lines: list[str]) -> list[int]:
    return [int(line.split()[1]) for line in lines if line.startswith("ACK ")]


async def _prepare(url: str, topic: str) -> None:
    bus = open_bus(url)
    sub = await bus.subscribe(topic, "workers", "setup")  # the group exists before publishing
    await sub.close()
    await bus.publish(topic, events(TOTAL))
    await bus.close()


def test_killed_consumer_loses_nothing(backend: Backend) -> None:
    topic = backend.topic()
    asyncio.run(_prepare(backend.url, topic))
    doomed = _worker(backend.url, topic, "hang")
    try:
        by_doomed = _acked(read_until(doomed, "HANG", "the doomed worker never held its batch"))
        os.kill(doomed.pid, signal.SIGKILL)
        doomed.wait(timeout=10)
        survivor = _worker(backend.url, topic, "drain")
        out, _ = survivor.communicate(timeout=40)
        by_survivor = _acked(out.splitlines())
    finally:
        reap(doomed)
        asyncio.run(delete_topics(backend.url, {topic: GROUPS}))
    assert by_doomed == [0, 1, 2]
    assert set(range(3, 10)) <= set(by_survivor), "the killed consumer's batch was not redelivered"
    assert sorted(by_doomed + by_survivor) == list(range(TOTAL)), "lost or duplicated events"
