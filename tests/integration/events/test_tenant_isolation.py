"""Two tenants, one event id: neither suppresses the other, on every broker and store.

Event ids are chosen by producers, so two tenants can send the same one (``pay-2001``).
Each must still be processed, dead-lettered and delivered as its own event.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from ailayer.events import ConsumerRunner, Event, EventBus, new_event, open_idempotency_store
from ailayer.events.deadletter import DLQ_GROUP, list_dead_letters
from ailayer.events.idempotency.redis import RedisIdempotencyStore
from ailayer.events.retry import Backoff
from tests.support.brokers import Backend, ack_all, collect

pytestmark = pytest.mark.integration

STORES = ["memory", "sqlite", "redis"]


def twins(event_id: str = "pay-2001") -> list[Event]:
    """Tenant B's event, then tenant A's with the same id (B came first in the issue)."""
    return [
        Event(id=event_id, source="/billing", type="payment.created", data={"by": t}, tenant=t)
        for t in ("tenant-b", "tenant-a")
    ]


async def declare(bus: EventBus, topic: str, group: str) -> None:
    """Create ``group`` before publishing (RabbitMQ keeps nothing for a missing group)."""
    sub = await bus.subscribe(topic, group, "setup", ack_wait=5.0)
    await sub.close()


def store_url(name: str, tmp_path: Path) -> str:
    if name == "redis":
        return "redis://127.0.0.1:6379/0"
    return "memory://" if name == "memory" else f"sqlite:///{tmp_path / 'idem.db'}"


@pytest.mark.parametrize("store_name", STORES)
def test_equal_ids_of_two_tenants_are_both_processed(
    backend: Backend, store_name: str, tmp_path: Path
) -> None:
    group = "workers"
    event_id = f"pay-{uuid.uuid4().hex[:8]}"  # a fresh id: the Redis store is shared

    async def scenario(bus: EventBus, topic: str) -> None:
        store = open_idempotency_store(store_url(store_name, tmp_path))
        handled: list[tuple[str | None, str]] = []

        async def handle(event: Event) -> None:
            handled.append((event.tenant, event.id))

        runner = ConsumerRunner(
            bus, topic, group, handle, idempotency=store, concurrency=1, stop_when_idle=True,
            fetch_timeout=0.1, lag_interval=0.1, ack_wait=5.0,
        )  # fmt: skip
        await declare(bus, topic, group)
        await bus.publish(topic, twins(event_id))
        try:
            stats = await runner.run()
        finally:
            if isinstance(store, RedisIdempotencyStore):
                await store.forget(group)
            await store.close()
        assert sorted(handled) == [("tenant-a", event_id), ("tenant-b", event_id)]
        assert (stats.processed, stats.duplicates) == (2, 0)

    backend.run(scenario)


def test_equal_ids_of_two_tenants_are_both_delivered(backend: Backend) -> None:
    """Brokers that drop a re-published id (NATS's duplicate window) count the tenant."""

    async def scenario(bus: EventBus, topic: str) -> None:
        sub = await bus.subscribe(topic, "workers", "c1", ack_wait=5.0)
        await bus.publish(topic, twins())
        got = await collect(sub, 2, timeout=2.0)
        assert sorted(d.event.tenant or "" for d in got) == ["tenant-a", "tenant-b"]
        await ack_all(got)
        await sub.close()

    backend.run(scenario)


def test_equal_ids_of_two_tenants_are_both_dead_lettered(backend: Backend) -> None:
    async def scenario(bus: EventBus, topic: str) -> None:
        def fail(event: Event) -> None:
            raise ValueError(f"bad payment of {event.tenant}")

        runner = ConsumerRunner(
            bus, topic, "workers", fail, max_attempts=1, stop_when_idle=True,
            backoff=Backoff(base=0.01, max=0.01), fetch_timeout=0.1, lag_interval=0.1,
        )  # fmt: skip
        await declare(bus, topic, "workers")
        await declare(bus, f"{topic}-dlq", DLQ_GROUP)
        await bus.publish(topic, twins())
        try:
            stats = await runner.run()
            letters = await list_dead_letters(bus, f"{topic}-dlq")
        finally:
            await bus.delete_topic(f"{topic}-dlq", (DLQ_GROUP,))
        assert stats.dead_lettered == 2
        assert sorted((e.tenant or "", e.extensions["dlqerror"]) for e in letters) == [
            ("tenant-a", "ValueError: bad payment of tenant-a"),
            ("tenant-b", "ValueError: bad payment of tenant-b"),
        ]

    backend.run(scenario)


def test_a_partition_key_held_by_one_tenant_does_not_hold_back_another(
    backend: Backend,
) -> None:
    if not backend.orders_by_key:
        pytest.skip(f"{backend.name} keeps no per-key order across consumers")

    async def scenario(bus: EventBus, topic: str) -> None:
        x = await bus.subscribe(topic, "workers", "x", ack_wait=5.0)
        y = await bus.subscribe(topic, "workers", "y", ack_wait=5.0)
        for tenant in ("tenant-b", "tenant-a"):
            event = new_event("payment.created", "/billing", {}, tenant=tenant, partition_key="k")
            await bus.publish(topic, [event])
        (held,) = await x.fetch(1, timeout=1)
        assert held.event.tenant == "tenant-b"
        got = await y.fetch(10, timeout=0.5)
        assert [d.event.tenant for d in got] == ["tenant-a"]  # B's key is not A's key
        await ack_all([held, *got])
        await x.close()
        await y.close()

    backend.run(scenario)
