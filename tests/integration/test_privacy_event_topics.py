"""A data subject's events on a stream view's source topic are exported and erased on
every broker (the embedded bus, Redis Streams, NATS JetStream, RabbitMQ): from the log on
a log broker, from every known group's queue on RabbitMQ (the view's stream group and a
configured consumer's group). A bystander's and another tenant's events stay, in order, a
consumer group that runs during the delete still gets them, and a second delete removes
nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta

import pytest

from ailayer.bootstrap import Services, build
from ailayer.events import open_bus
from ailayer.events.envelope import new_event
from ailayer.features import Aggregation, Entity, StreamFeatureView
from ailayer.features.streaming import default_group
from ailayer.governance.privacy import Subject
from tests.support.brokers import Backend, collect, delete_topics

pytestmark = pytest.mark.integration

AUDIT = "audit"  # a configured consumer's group (the console_topics setting names it)


@pytest.fixture
def topic(backend: Backend) -> str:
    return backend.topic()


@pytest.fixture
def services(backend: Backend, topic: str, make_settings) -> Iterator[Services]:  # type: ignore[no-untyped-def]
    built = build(make_settings(event_bus=backend.url, console_topics={topic: [AUDIT]}))
    yield built
    built.close()


def payment(tenant: str, customer: int, n: int):  # type: ignore[no-untyped-def]
    return new_event(
        "payment.created", "/billing", {"customer_id": customer, "n": n}, tenant=tenant
    )


def topics(answer: dict) -> dict:
    return next(s for s in answer["stores"] if s["store"] == "event_topics")


def numbers(answer: dict) -> list[int]:
    return sorted(r["event"]["data"]["n"] for r in topics(answer)["records"])


async def consume(url: str, topic: str, group: str, seen: list[int], stop: asyncio.Event) -> None:
    """A consumer of ``group`` running until ``stop``: acks what it gets, notes the n."""
    bus = open_bus(url)
    sub = await bus.subscribe(topic, group, "runner", ack_wait=30)
    try:
        while not stop.is_set():
            for delivery in await sub.fetch(100, timeout=0.1):
                seen.append(delivery.event.data["n"])
                await delivery.ack()
    finally:
        await sub.close()
        await bus.close()


async def declare(url: str, topic: str, groups: list[str]) -> None:
    """Create the groups (RabbitMQ keeps events only for groups that exist)."""
    bus = open_bus(url)
    try:
        for group in groups:
            await (await bus.subscribe(topic, group, "setup", ack_wait=30)).close()
    finally:
        await bus.close()


def test_a_subjects_events_on_a_source_topic_are_exported_and_erased(
    services: Services, backend: Backend, topic: str
) -> None:
    acme, other = services.keys.create_tenant("acme"), services.keys.create_tenant("other")
    customer = Entity("customer", {"customer_id": int})
    view = StreamFeatureView(
        "payments",
        [customer],
        topic,
        "payment.created",
        [Aggregation("payments_1d", None, "count", timedelta(days=1))],
        timestamp_field="at",
    )
    services.features.apply(acme, "t", [customer, view])
    stream = default_group(acme, services.features.catalog(acme).views["payments"])
    subject = Subject("customer_id", "42")
    try:
        asyncio.run(declare(backend.url, topic, [stream, AUDIT]))
        asyncio.run(_publish(backend.url, topic, acme, other))

        found = topics(services.privacy.export(acme, "admin", subject))
        assert found["where"] == {topic: 2}
        assert numbers(services.privacy.export(acme, "admin", subject)) == [1, 3]

        seen: list[int] = []
        receipt = asyncio.run(
            _delete_while_consuming(services, backend.url, acme, topic, stream, seen)
        )
        assert receipt["complete"], receipt["failed"]
        assert topics(receipt)["removed"] == 2 and topics(receipt)["where"] == {topic: 2}
        assert {2, 4} <= set(seen)  # the running group still got the others

        assert numbers(services.privacy.export(acme, "admin", subject)) == []
        assert numbers(services.privacy.export(acme, "admin", Subject("customer_id", "7"))) == [2]
        assert topics(services.privacy.delete(acme, "admin", subject))["removed"] == 0
        assert asyncio.run(_audit(backend.url, topic)) == [2, 4]  # in order, the subject's gone
        if not backend.replays_history:  # a queue broker: no queue was made by the reads
            assert asyncio.run(_waiting(backend.url, f"{topic}-dlq", "dlq")) is None
    finally:
        asyncio.run(delete_topics(backend.url, {topic: [stream, AUDIT], f"{topic}-dlq": ["dlq"]}))


async def _publish(url: str, topic: str, acme: str, other: str) -> None:
    bus = open_bus(url)
    try:
        events = [payment(acme, 42, 1), payment(acme, 7, 2), payment(acme, "42", 3)]
        await bus.publish(topic, [*events, payment(other, 42, 4)])
    finally:
        await bus.close()


async def _delete_while_consuming(
    services: Services, url: str, tenant: str, topic: str, group: str, seen: list[int]
) -> dict:
    """The delete, with a consumer of ``group`` running meanwhile (and until it got the
    others' events, at most 5 s after)."""
    stop = asyncio.Event()
    runner = asyncio.create_task(consume(url, topic, group, seen, stop))
    try:
        subject = Subject("customer_id", "42")
        return await asyncio.to_thread(services.privacy.delete, tenant, "admin", subject)
    finally:
        for _ in range(50):
            if {2, 4} <= set(seen) or runner.done():
                break
            await asyncio.sleep(0.1)
        stop.set()
        await runner


async def _audit(url: str, topic: str) -> list[int]:
    bus = open_bus(url)
    sub = await bus.subscribe(topic, AUDIT, "reader", ack_wait=30)
    try:
        got = await collect(sub, 3, timeout=0.6)
        return [d.event.data["n"] for d in got]
    finally:
        await sub.close()
        await bus.close()


async def _waiting(url: str, topic: str, group: str) -> int | None:
    bus = open_bus(url)
    try:
        return await bus.waiting(topic, group)
    finally:
        await bus.close()
