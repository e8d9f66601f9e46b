"""The ``EventBus`` contract for ``Subscription.fetch_batch`` / ``ack_batches`` (the
columnar path ``StreamRunner`` uses), against every real broker like
``test_bus_contract.py``: a batch carries the same events, attempts and settlement
as ``fetch`` / ``ack_many`` would.
"""

from __future__ import annotations

import time

import pytest

from ailayer.core.errors import InvalidInput
from ailayer.events import Event, EventBus
from ailayer.events.bus import Batch, Subscription
from tests.support.brokers import Backend, lag_settles
from tests.support.events import events

pytestmark = pytest.mark.integration

ACK_WAIT = 1.0


async def collect_batches(sub: Subscription, count: int, timeout: float = 5.0) -> list[Batch]:
    """Fetch batches until they hold ``count`` events or ``timeout`` passed."""
    got: list[Batch] = []
    deadline = time.monotonic() + timeout
    while sum(len(b) for b in got) < count and time.monotonic() < deadline:
        wait = max(0.0, min(0.5, deadline - time.monotonic()))
        batch = await sub.fetch_batch(count - sum(len(b) for b in got), timeout=wait)
        if batch:
            got.append(batch)
    return got


def numbers(batches: list[Batch]) -> list[int]:
    return [body["data"]["n"] for batch in batches for body in batch.bodies]


def test_a_batch_holds_the_events_as_published(backend: Backend) -> None:
    async def scenario(bus: EventBus, topic: str) -> None:
        sub = await bus.subscribe(topic, "workers", "c1", ack_wait=ACK_WAIT)
        sent = events(2, key="acct-1")
        sent.append(
            Event.from_dict(
                {
                    "specversion": "1.0",
                    "id": "ext-1",
                    "source": "/crm",
                    "type": "user.signed_up",
                    "time": "2024-05-01T12:00:00.5+02:00",
                    "data_base64": "AAEC",
                    "tenant": "globex",
                    "traceparent": "00-abc-def-01",
                }
            )
        )
        await bus.publish(topic, sent)
        batches = await collect_batches(sub, 3)
        bodies = [body for batch in batches for body in batch.bodies]
        assert bodies == [event.to_dict() for event in sent]
        assert [b.event(i) for b in batches for i in range(len(b))] == sent
        assert [a for b in batches for a in b.attempts] == [1, 1, 1]
        await sub.ack_batches(batches)
        assert await lag_settles(bus, topic, "workers") == 0
        await sub.ack_batches(batches)  # acking twice does nothing
        await sub.ack_batches([])
        assert not await sub.fetch_batch(10, timeout=ACK_WAIT + 0.5)  # nothing comes back
        await sub.close()

    backend.run(scenario)


def test_an_event_handed_out_is_settled_on_its_own(backend: Backend) -> None:
    async def scenario(bus: EventBus, topic: str) -> None:
        sub = await bus.subscribe(topic, "workers", "c1", ack_wait=5.0)
        await bus.publish(topic, events(3))
        (batch,) = await collect_batches(sub, 3)
        first = batch.delivery(0)
        assert first is batch.delivery(0)
        assert (first.event, first.attempt) == (batch.event(0), 1)
        await first.nack()  # handed back: ack_batches must not ack it
        await sub.ack_batches([batch])
        (again,) = await collect_batches(sub, 1)
        assert numbers([again]) == [0]
        assert list(again.attempts) == [2]
        await sub.ack_batches([again])
        assert await lag_settles(bus, topic, "workers") == 0
        assert not await sub.fetch_batch(10, timeout=0.3)
        await sub.close()

    backend.run(scenario)


def test_a_batch_never_acked_goes_to_another_consumer(backend: Backend) -> None:
    async def scenario(bus: EventBus, topic: str) -> None:
        dying = await bus.subscribe(topic, "workers", "dying", ack_wait=ACK_WAIT)
        survivor = await bus.subscribe(topic, "workers", "survivor", ack_wait=ACK_WAIT)
        await bus.publish(topic, events(3))
        held = await collect_batches(dying, 3)
        assert numbers(held) == [0, 1, 2]
        await dying.close()  # no ack: as if the process had died
        # each batch acked as it comes; a broker may hand an event over once more (at
        # least once: NATS 2.9.10 does, see test_bus_contract), so copies are allowed
        got: list[Batch] = []
        deadline = time.monotonic() + 2 * ACK_WAIT + 3
        while set(numbers(got)) != {0, 1, 2} and time.monotonic() < deadline:
            batch = await survivor.fetch_batch(3, timeout=0.5)
            await survivor.ack_batches([batch])
            got.append(batch)
        assert set(numbers(got)) == {0, 1, 2}
        if backend.name != "nats":
            assert sorted(numbers(got)) == [0, 1, 2]
        first: dict[int, int] = {}  # each event's first delivery here: its attempt
        for batch in got:
            for body, attempt in zip(batch.bodies, batch.attempts, strict=True):
                first.setdefault(body["data"]["n"], attempt)
        assert all(attempt >= 2 for attempt in first.values())
        assert await lag_settles(bus, topic, "workers") == 0
        await survivor.close()

    backend.run(scenario)


def test_ack_batches_refuses_a_batch_of_another_subscription(backend: Backend) -> None:
    async def scenario(bus: EventBus, topic: str) -> None:
        workers = await bus.subscribe(topic, "workers", "w1", ack_wait=5.0)
        audit = await bus.subscribe(topic, "audit", "a1", ack_wait=5.0)
        await bus.publish(topic, events(1))
        (mine,) = await collect_batches(workers, 1)
        (theirs,) = await collect_batches(audit, 1)
        with pytest.raises(InvalidInput, match="not fetched by this subscription") as caught:
            await workers.ack_batches([mine, theirs])
        assert caught.value.field == "batches"
        in_flight = 1 if backend.lag_counts_in_flight else 0
        assert await bus.lag(topic, "workers") == in_flight  # refused before acking any
        await workers.ack_batches([mine])
        await audit.ack_batches([theirs])
        assert await lag_settles(bus, topic, "workers") == 0
        assert await lag_settles(bus, topic, "audit") == 0
        await workers.close()
        await audit.close()

    backend.run(scenario)


def test_batches_drain_a_backlog_once_and_never_exceed_the_ask(backend: Backend) -> None:
    async def scenario(bus: EventBus, topic: str) -> None:
        sub = await bus.subscribe(topic, "workers", "c1", ack_wait=30.0)
        with pytest.raises(InvalidInput, match="max_messages"):
            await sub.fetch_batch(0)
        with pytest.raises(InvalidInput, match="timeout"):
            await sub.fetch_batch(1, timeout=-1)
        empty = await sub.fetch_batch(10, timeout=0.2)
        assert (len(empty), bool(empty), empty.bodies) == (0, False, [])
        await bus.publish(topic, events(2500))
        got: list[Batch] = []
        while sum(len(b) for b in got) < 2500:
            batch = await sub.fetch_batch(1000, timeout=1)
            assert len(batch) == len(batch.attempts) == len(batch.handles) <= 1000
            got.append(batch)
            await sub.ack_batches([batch])
        assert sorted(numbers(got)) == list(range(2500))
        assert not await sub.fetch_batch(1000, timeout=0.3)
        assert await lag_settles(bus, topic, "workers") == 0
        await sub.close()

    backend.run(scenario)
