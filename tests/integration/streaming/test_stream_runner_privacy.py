"""A subject deleted while a stream runner runs leaves its memory too, on a real broker
(Redis Streams, NATS JetStream): the runner's window state for the subject's key is
dropped within about the tombstones' refresh interval, a later event of the subject folds
nowhere and writes no row online or offline, and the other keys' windows are intact."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from ailayer.bootstrap import Services, build
from ailayer.events.deadletter import DLQ_GROUP, dead_letter_topic
from ailayer.features import Aggregation, StreamFeatureView
from ailayer.features.catalog import storage_name
from ailayer.features.stores.online import entity_key
from ailayer.features.streaming import StreamRunner
from ailayer.features.streaming.runner import default_group
from ailayer.governance.privacy import Subject
from tests.support.brokers import backend_for, delete_topics
from tests.support.privacy import BYSTANDER, SUBJECT, T0, customer, payment

pytestmark = pytest.mark.integration


def view_on(topic: str) -> StreamFeatureView:
    return StreamFeatureView(
        "payments",
        [customer],
        topic,
        "payment.created",
        [Aggregation("payments_1d", None, "count", timedelta(days=1))],
        timestamp_field="at",
    )


@pytest.fixture(params=["redis", "nats"])
def services(request: pytest.FixtureRequest, make_settings, tmp_path: Path) -> Iterator[Services]:  # type: ignore[no-untyped-def]
    url = backend_for(request.param, tmp_path).url
    built = build(make_settings(event_bus=url, online_store=f"sqlite:///{tmp_path / 'o.db'}"))
    yield built
    built.close()


async def until(check: Callable[[], bool], timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while not check() and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    return check()


def count(runner: StreamRunner, customer_id: int) -> float | None:
    state = runner.processor.entities.get((customer_id,))
    return None if state is None else state.windows[0].value()


def test_a_running_runner_forgets_a_subject_deleted_meanwhile(services: Services) -> None:
    tenant = services.keys.create_tenant("acme")
    topic = f"t-{uuid.uuid4().hex[:12]}"
    view = view_on(topic)
    services.features.apply(tenant, "test", [customer, view])
    subject = Subject("customer_id", str(SUBJECT))

    def served(customer_id: int) -> object:
        name, key = storage_name(view), entity_key([customer_id])
        found = services.online.read_batch(tenant, name, [key], ["payments_1d"])[0]
        return None if found is None else found.values

    async def main() -> None:
        runner = StreamRunner(
            services.bus, view, tenant, services.offline.tenant_root(tenant), services.online,
            clock="event", fetch_timeout=0.05, flush_interval=0.05,
            tombstones=services.tombstones,
        )  # fmt: skip
        running = asyncio.create_task(runner.run())
        try:
            at = T0 + timedelta(minutes=5)
            events = [payment(tenant, c, at) for c in (SUBJECT, BYSTANDER, SUBJECT)]
            await services.bus.publish(topic, events)
            assert await until(lambda: count(runner, SUBJECT) == 2 and served(BYSTANDER))

            receipt = await asyncio.to_thread(services.privacy.delete, tenant, "admin", subject)
            assert receipt["complete"], receipt["failed"]
            assert await until(lambda: (SUBJECT,) not in runner.processor.entities)
            assert count(runner, BYSTANDER) == 1

            later = at + timedelta(minutes=1)
            await services.bus.publish(
                topic, [payment(tenant, SUBJECT, later), payment(tenant, BYSTANDER, later)]
            )
            assert await until(lambda: served(BYSTANDER) == {"payments_1d": 2})
            assert await until(lambda: (SUBJECT,) not in runner.processor.entities)
            assert count(runner, BYSTANDER) == 2
        finally:
            runner.stop()
            await running
            await services.bus.close()
            groups = {topic: [default_group(tenant, view)], dead_letter_topic(topic): [DLQ_GROUP]}
            await delete_topics(services.settings.event_bus, groups)

    asyncio.run(main())
    assert served(SUBJECT) is None
    after = {s["store"]: s for s in services.privacy.export(tenant, "admin", subject)["stores"]}
    assert after["online_store"]["count"] == 0
    assert after["offline_store"]["count"] == 0  # neither the event nor a row was logged


def test_a_restarted_runner_does_not_rebuild_an_erased_subject(services: Services) -> None:
    """Events of the subject that reached the log before the runner saw its tombstone (a
    runner in another process) are not folded into windows again on restart."""
    tenant = services.keys.create_tenant("acme")
    topic = f"t-{uuid.uuid4().hex[:12]}"
    view = view_on(topic)
    services.features.apply(tenant, "test", [customer, view])
    root = services.offline.tenant_root(tenant)

    def runner(tombstones: object) -> StreamRunner:
        return StreamRunner(
            services.bus, view, tenant, root, services.online, clock="event",
            stop_when_idle=True, fetch_timeout=0.05, tombstones=tombstones,  # type: ignore[arg-type]
        )  # fmt: skip

    async def main() -> StreamRunner:
        try:
            at = T0 + timedelta(minutes=5)
            await services.bus.publish(
                topic, [payment(tenant, c, at) for c in (SUBJECT, BYSTANDER)]
            )
            await runner(None).run()  # it never saw the tombstone
            services.tombstones.add(tenant, Subject("customer_id", str(SUBJECT)))
            restarted = runner(services.tombstones)
            await restarted.run()
            return restarted
        finally:
            await services.bus.close()
            groups = {topic: [default_group(tenant, view)]}
            await delete_topics(services.settings.event_bus, groups)

    restarted = asyncio.run(main())
    assert (SUBJECT,) not in restarted.processor.entities
    assert count(restarted, BYSTANDER) == 1
    name = storage_name(view)
    keys = [entity_key([SUBJECT]), entity_key([BYSTANDER])]
    subject_row, bystander_row = services.online.read_batch(tenant, name, keys, ["payments_1d"])
    assert subject_row is None and bystander_row is not None
