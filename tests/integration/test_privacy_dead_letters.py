"""A data subject's dead letters are exported and erased on every broker (the embedded
bus, Redis Streams, NATS JetStream, RabbitMQ): pending ones, and on a log broker also
those already replayed (still in the log). A bystander's and another tenant's stay; a
second delete removes nothing."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import pytest

from ailayer.bootstrap import Services, build
from ailayer.events import EventBus, open_bus
from ailayer.events.deadletter import DLQ_GROUP, dead_letter
from ailayer.events.envelope import new_event
from ailayer.events.privacy import DeadLetterSubjects, holds
from ailayer.governance.privacy import Subject
from tests.support.brokers import Backend, collect
from tests.support.privacy import DEFINITIONS

pytestmark = pytest.mark.integration


@pytest.fixture
def dlq(backend: Backend) -> Iterator[str]:
    topic = f"t-{uuid.uuid4().hex[:12]}-dlq"
    yield topic
    asyncio.run(_drop(backend.url, topic))


async def _drop(url: str, topic: str, groups: tuple[str, ...] | list[str] = ()) -> None:
    bus = open_bus(url)
    try:
        await bus.delete_topic(topic, [DLQ_GROUP, *groups])
    finally:
        await bus.close()


@pytest.fixture
def services(backend: Backend, dlq: str, make_settings) -> Iterator[Services]:  # type: ignore[no-untyped-def]
    built = build(make_settings(event_bus=backend.url, dead_letter_topics=[dlq]))
    yield built
    built.close()


def letter(tenant: str, customer: int | str, n: int):  # type: ignore[no-untyped-def]
    event = new_event(
        "payment.created", "/billing", {"customer_id": customer, "n": n}, tenant=tenant
    )
    return dead_letter(
        event, topic="payments", group="stream", error=ValueError("bad amount"), attempts=3
    )


async def publish(url: str, topic: str, acme: str, other: str) -> None:
    """Three of 42's in acme (the first replayed: acked by the dlq group), one of 7's,
    one of 42's in another tenant."""
    bus: EventBus = open_bus(url)
    try:
        sub = await bus.subscribe(topic, DLQ_GROUP, "setup", ack_wait=30)
        mine = [letter(acme, 42, 1), letter(acme, "42", 2), letter(acme, 42, 3)]
        await bus.publish(topic, [*mine, letter(acme, 7, 4), letter(other, 42, 5)])
        first = []
        while not first:
            first = await sub.fetch(1, timeout=1.0)
        assert first[0].event.data["n"] == 1
        await first[0].ack()  # replayed
        await sub.close()
    finally:
        await bus.close()


def dead_letters(answer: dict) -> dict:
    return next(s for s in answer["stores"] if s["store"] == "dead_letters")


def test_dead_letters_of_a_subject_are_exported_and_erased(
    services: Services, backend: Backend, dlq: str
) -> None:
    acme, other = services.keys.create_tenant("acme"), services.keys.create_tenant("other")
    asyncio.run(publish(backend.url, dlq, acme, other))
    subject = Subject("customer_id", "42")
    # a queue broker keeps only what its dlq group has not acked; a log keeps all
    held = 2 if backend.name == "amqp" else 3

    found = dead_letters(services.privacy.export(acme, "admin", subject))
    assert found["count"] == held and found["where"] == {dlq: held}
    numbers = sorted(r["event"]["data"]["n"] for r in found["records"])
    assert numbers == ([2, 3] if held == 2 else [1, 2, 3])
    assert all(r["event"]["dlqerror"] == "ValueError: bad amount" for r in found["records"])
    assert dead_letters(services.privacy.export(acme, "admin", subject))["count"] == held

    receipt = services.privacy.delete(acme, "admin", subject)
    assert receipt["complete"], receipt["failed"]
    assert dead_letters(receipt) == {
        "store": "dead_letters",
        "removed": held,
        "where": {dlq: held},
        "customer_owned": False,
        "note": "",
    }
    assert dead_letters(services.privacy.export(acme, "admin", subject))["count"] == 0
    bystander = dead_letters(services.privacy.export(acme, "admin", Subject("customer_id", "7")))
    assert [r["event"]["data"]["n"] for r in bystander["records"]] == [4]
    theirs = dead_letters(services.privacy.export(other, "admin", subject))
    assert [r["event"]["data"]["n"] for r in theirs["records"]] == [5]
    assert dead_letters(services.privacy.delete(acme, "admin", subject))["removed"] == 0


def test_every_known_group_of_a_dead_letter_topic_loses_the_subjects_letters(
    backend: Backend, dlq: str, make_settings
) -> None:
    """A consumer group the settings name for a dead-letter topic (``console_topics``)
    keeps its own copy of each letter on RabbitMQ: it is read through too."""
    built = build(
        make_settings(
            event_bus=backend.url, dead_letter_topics=[dlq], console_topics={dlq: ["audit"]}
        )
    )
    try:
        acme = built.keys.create_tenant("acme")
        asyncio.run(_declare(backend.url, dlq, [DLQ_GROUP, "audit"]))
        asyncio.run(_letters(backend.url, dlq, [letter(acme, 42, 1), letter(acme, 7, 2)]))
        receipt = built.privacy.delete(acme, "admin", Subject("customer_id", "42"))
        assert receipt["complete"], receipt["failed"]
        assert dead_letters(receipt)["where"] == {dlq: 1}
        assert asyncio.run(_read(backend.url, dlq, "audit")) == [2]
        assert asyncio.run(_read(backend.url, dlq, DLQ_GROUP)) == [2]
    finally:
        built.close()
        asyncio.run(_drop(backend.url, dlq, ["audit"]))


async def _declare(url: str, topic: str, groups: list[str]) -> None:
    bus = open_bus(url)
    try:
        for group in groups:
            await (await bus.subscribe(topic, group, "setup", ack_wait=30)).close()
    finally:
        await bus.close()


async def _letters(url: str, topic: str, letters: list) -> None:  # type: ignore[type-arg]
    bus = open_bus(url)
    try:
        await bus.publish(topic, letters)
    finally:
        await bus.close()


async def _read(url: str, topic: str, group: str) -> list[int]:
    bus = open_bus(url)
    sub = await bus.subscribe(topic, group, "reader", ack_wait=30)
    try:
        return [d.event.data["n"] for d in await collect(sub, 2, timeout=0.6)]
    finally:
        await sub.close()
        await bus.close()


def test_the_stream_views_dead_letter_topics_are_searched(services: Services) -> None:
    tenant = services.keys.create_tenant("acme")
    services.features.apply(tenant, "t", DEFINITIONS)  # the stream view on "payments"
    store = next(s for s in services.privacy.stores if isinstance(s, DeadLetterSubjects))
    assert "payments-dlq" in store.dead_letter_topics(tenant)


def test_which_events_hold_a_subject() -> None:
    subject = Subject("customer_id", "42")
    assert holds(letter("t1", 42, 1), "t1", subject)
    assert holds(letter("t1", "42", 1), "t1", subject)
    assert not holds(letter("t2", 42, 1), "t1", subject)
    assert not holds(letter("t1", 420, 1), "t1", subject)
    nested = new_event("x.y", "/s", {"customer": {"customer_id": 42}}, tenant="t1")
    assert not holds(nested, "t1", subject)
