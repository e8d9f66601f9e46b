"""The real brokers behind the ``EventBus`` port: one bus per backend on a fresh topic that
is deleted after, and helpers to read what a subscription delivers."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ailayer.events import Delivery, EventBus, Subscription, open_bus
from tests.support.events import numbers

GROUPS = ("workers", "audit")
"""Every test uses only these groups, so that cleanup can name them (RabbitMQ needs it)."""


@dataclass(frozen=True)
class Backend:
    """A broker URL and what that broker can promise beyond the common contract."""

    name: str
    url: str
    replays_history: bool  # a new group also reads events published before it existed
    orders_by_key: bool  # per-partition-key order across the consumers of a group
    lag_counts_in_flight: bool  # lag includes delivered-but-unacked events
    returns_on_close: bool  # a closed consumer's deliveries come back at once

    def topic(self) -> str:
        return f"t-{uuid.uuid4().hex[:12]}"

    def run(self, scenario: Callable[[EventBus, str], Awaitable[None]]) -> None:
        """Run ``scenario(bus, topic)`` on a fresh topic, then delete it and close the bus."""

        async def main() -> None:
            bus, topic = open_bus(self.url), self.topic()
            try:
                await asyncio.wait_for(scenario(bus, topic), timeout=20)
            finally:
                await bus.delete_topic(topic, GROUPS)
                await bus.close()

        asyncio.run(main())


def backend_for(name: str, tmp_path: Path) -> Backend:
    """The backend named ``name`` (one of ``BACKENDS``); the embedded bus lives in ``tmp_path``."""
    if name == "embedded":
        return Backend(name, f"embedded://{tmp_path / 'bus.db'}", True, True, True, False)
    if name == "redis":
        return Backend(name, "redis://127.0.0.1:6379/0", True, False, True, False)
    if name == "nats":
        return Backend(name, "nats://127.0.0.1:4222", True, False, True, False)
    return Backend(name, "amqp://guest:guest@127.0.0.1:5672/", False, False, False, True)


BACKENDS = ["embedded", "redis", "nats", "amqp"]


async def delete_topics(url: str, groups_by_topic: dict[str, Sequence[str]]) -> None:
    """Delete each topic with its groups on the bus at ``url``: a test's cleanup."""
    bus = open_bus(url)
    try:
        for topic, groups in groups_by_topic.items():
            await bus.delete_topic(topic, groups)
    finally:
        await bus.close()


async def collect(sub: Subscription, count: int, timeout: float = 5.0) -> list[Delivery]:
    """Fetch until ``count`` deliveries arrived or ``timeout`` passed."""
    got: list[Delivery] = []
    deadline = time.monotonic() + timeout
    while len(got) < count and time.monotonic() < deadline:
        got += await sub.fetch(
            count - len(got), timeout=max(0.0, min(0.5, deadline - time.monotonic()))
        )
    return got


async def collect_acked(sub: Subscription, want: set[int], timeout: float) -> list[Delivery]:
    """Fetch, acking each delivery at once, until events numbered ``want`` have all come
    (or ``timeout``); the first delivery of each event that came. Delivery is at least
    once: a broker may hand an event over again, so copies are acked and dropped here;
    an event of ``want`` that never comes still fails the test."""
    first: dict[str, Delivery] = {}
    deadline = time.monotonic() + timeout
    while not want <= set(numbers(list(first.values()))) and time.monotonic() < deadline:
        wait = max(0.0, min(0.5, deadline - time.monotonic()))
        for delivery in await sub.fetch(len(want), timeout=wait):
            await delivery.ack()
            first.setdefault(delivery.event.id, delivery)
    return list(first.values())


async def ack_all(deliveries: list[Delivery]) -> None:
    for delivery in deliveries:
        await delivery.ack()


async def lag_settles(bus: EventBus, topic: str, group: str, timeout: float = 3.0) -> int:
    """The group's lag once it stops changing to 0 (JetStream applies acks asynchronously)."""
    deadline = time.monotonic() + timeout
    lag = await bus.lag(topic, group)
    while lag and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
        lag = await bus.lag(topic, group)
    return lag
