"""Data subject requests over the event stores that need no broker to test: events waiting
in outbox spool files (the ``outbox_spools`` setting) are exported and erased; a spool held
by a running ``Outbox`` has the subject's events removed by that outbox on the delete's
request while it stays open; one held by a process that does not answer makes the delete
incomplete, naming it, and a re-run once it is free completes it; a broker that is down is
named in the receipt as failed. On SQLite and the real PostgreSQL as the metadata store
(dead letters and source topics on every broker: ``tests/integration/test_privacy_*``)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from ailayer.bootstrap import Services, build
from ailayer.events import Outbox, erasure
from ailayer.events.envelope import new_event
from ailayer.events.privacy import TopicSubjects
from ailayer.events.spool import Spool
from ailayer.features import Aggregation, Entity, StreamFeatureView
from ailayer.features.streaming.runner import stream_group
from ailayer.governance.privacy import Subject
from tests.support.events import FlakyBus, embedded_bus


def event(tenant: str, customer: int, n: int):  # type: ignore[no-untyped-def]
    return new_event(
        "payment.created", "/billing", {"customer_id": customer, "n": n}, tenant=tenant
    )


def spool_with(path: Path, items: list) -> None:  # type: ignore[type-arg]
    spool = Spool(path, 1000)
    spool.open()
    spool.append(items)
    spool.close()


@pytest.fixture
def services(metadata_url: str, make_settings, tmp_path: Path) -> Iterator[Services]:  # type: ignore[no-untyped-def]
    spools = tmp_path / "producers"
    spools.mkdir()
    built = build(
        make_settings(metadata_url=metadata_url, outbox_spools=[str(spools / "outbox-*.db")])
    )
    yield built
    built.close()


def spooled(answer: dict) -> dict:
    return next(s for s in answer["stores"] if s["store"] == "outbox_spools")


def test_spooled_events_of_a_subject_are_exported_and_erased(
    services: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(erasure, "WAIT_SECONDS", 0.5)  # nobody answers the request below
    acme, other = services.keys.create_tenant("acme"), services.keys.create_tenant("other")
    first, second = tmp_path / "producers" / "outbox-1.db", tmp_path / "producers" / "outbox-2.db"
    spool_with(first, [("payments", event(acme, 42, 1)), ("payments", event(acme, 7, 2))])
    spool_with(second, [("refunds", event(acme, 42, 3)), ("payments", event(other, 42, 4))])
    subject = Subject("customer_id", "42")

    found = spooled(services.privacy.export(acme, "admin", subject))
    assert found["where"] == {str(first): 1, str(second): 1}
    assert sorted((r["topic"], r["event"]["data"]["n"]) for r in found["records"]) == [
        ("payments", 1),
        ("refunds", 3),
    ]

    held = Spool(second, 1000)  # a producer running with this spool
    held.open()
    try:
        cut = services.privacy.delete(acme, "admin", subject)
    finally:
        held.close()
    assert not cut["complete"]
    assert str(second) in cut["failed"]["outbox_spools"]
    assert f"{first}: 1" in cut["failed"]["outbox_spools"]

    rerun = services.privacy.delete(acme, "admin", subject)
    assert rerun["complete"], rerun["failed"]
    assert spooled(rerun)["where"] == {str(second): 1}  # the first was erased by the cut run
    assert spooled(services.privacy.export(acme, "admin", subject))["count"] == 0
    assert spooled(services.privacy.delete(acme, "admin", subject))["removed"] == 0

    left = Spool(first, 1000)
    assert left.open() == 1
    assert [e.data["n"] for _, _, e in left.rows()] == [2]
    left.close()
    theirs = spooled(services.privacy.export(other, "admin", subject))
    assert [r["event"]["data"]["n"] for r in theirs["records"]] == [4]


def test_a_running_outbox_erases_the_subject_from_its_spool_and_stays_open(
    services: Services, tmp_path: Path
) -> None:
    acme = services.keys.create_tenant("acme")
    path = tmp_path / "producers" / "outbox-1.db"
    subject = Subject("customer_id", "42")

    async def until(condition) -> None:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + 5
        while not condition():
            assert time.monotonic() < deadline, "timed out"
            await asyncio.sleep(0.01)

    async def scenario() -> None:
        bus = FlakyBus(embedded_bus(tmp_path))
        bus.down = True  # everything offered is spooled
        outbox = Outbox(bus, path, batch_size=10, retry_interval=60)  # type: ignore[arg-type]
        await outbox.start()
        for n, customer in enumerate([42, 7, 42, 7]):
            assert outbox.offer("payments", event(acme, customer, n))
        await until(lambda: outbox.stats.spool_depth == 4)

        receipt = await asyncio.to_thread(services.privacy.delete, acme, "admin", subject)
        assert receipt["complete"], receipt["failed"]
        assert spooled(receipt)["where"] == {str(path): 2}
        assert "completed" in spooled(receipt)["note"]
        assert outbox.stats.spool_depth == 2

        assert outbox.offer("payments", event(acme, 7, 4))  # still running
        await until(lambda: outbox.stats.spool_depth == 3)
        await outbox.close()
        await bus.close()

    asyncio.run(scenario())
    left = Spool(path, 1000)
    left.open()
    assert [e.data["n"] for _, _, e in left.rows()] == [1, 3, 4]
    left.close()
    assert not [p.name for p in path.with_name(path.name + ".erase").iterdir()]


def test_a_source_topic_is_read_in_every_known_group(services: Services) -> None:
    """On a queue broker each group keeps its own copy: the stream groups of every
    tenant's view on the topic, older versions too, and the groups settings name."""
    acme, other = services.keys.create_tenant("acme"), services.keys.create_tenant("other")
    customer = Entity("customer", {"customer_id": int})

    def view(version: int, topic: str = "payments") -> StreamFeatureView:
        return StreamFeatureView(
            "payments",
            [customer],
            topic,
            "payment.created",
            [Aggregation("payments_1d", None, "count", timedelta(days=1))],
            timestamp_field="at",
            version=version,
        )

    services.features.apply(acme, "t", [customer, view(1)])
    services.features.apply(acme, "t", [customer, view(2)])
    services.features.apply(other, "t", [customer, view(1)])
    store = next(s for s in services.privacy.stores if isinstance(s, TopicSubjects))
    groups = {
        stream_group(tenant, "payments", version)
        for tenant, version in ((acme, 1), (acme, 2), (other, 1))
    }
    assert store.topics(acme) == {"payments": sorted(groups)}
    assert store.topics(services.keys.create_tenant("none")) == {}


def test_a_broker_that_is_down_makes_the_delete_incomplete(make_settings) -> None:  # type: ignore[no-untyped-def]
    built = build(make_settings(event_bus="redis://127.0.0.1:1/0", dead_letter_topics=["x-dlq"]))
    try:
        tenant = built.keys.create_tenant("acme")
        receipt = built.privacy.delete(tenant, "admin", Subject("customer_id", "42"))
    finally:
        built.close()
    assert not receipt["complete"]
    assert "unavailable" in receipt["failed"]["dead_letters"]
    assert {s["store"] for s in receipt["stores"]} >= {"online_store", "prediction_log"}
