"""The outbox: non-blocking offers, batches, a bounded disk spool through an outage."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import pytest

from ailayer.core.errors import BackendUnavailable, InvalidInput
from ailayer.events import EventBus, Outbox
from tests.support.events import FlakyBus, embedded_bus, events, numbers


async def _drain(bus: EventBus, count: int) -> list[int]:
    sub = await bus.subscribe("payments", "workers", "reader", ack_wait=30)
    got: list[int] = []
    deadline = time.monotonic() + 5
    while len(got) < count and time.monotonic() < deadline:
        batch = await sub.fetch(1000, timeout=0.2)
        got += numbers([d.event for d in batch])
        for delivery in batch:
            await delivery.ack()
    return got


async def _until(condition, timeout: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


def test_offers_are_published_in_batches_in_order(tmp_path: Path) -> None:
    async def scenario() -> None:
        bus = FlakyBus(embedded_bus(tmp_path))
        outbox = Outbox(bus, tmp_path / "outbox.db", batch_size=100)  # type: ignore[arg-type]
        await outbox.start()
        assert all(outbox.offer("payments", e) for e in events(300))
        await _until(lambda: outbox.stats.published == 300)
        assert bus.calls < 300  # batched
        assert await _drain(bus, 300) == list(range(300))
        await outbox.close()
        await bus.close()

    asyncio.run(scenario())


def test_an_outage_is_spooled_to_disk_and_drained_in_order(tmp_path: Path) -> None:
    async def scenario() -> None:
        bus = FlakyBus(embedded_bus(tmp_path))
        outbox = Outbox(bus, tmp_path / "outbox.db", batch_size=50, retry_interval=0.1)  # type: ignore[arg-type]
        await outbox.start()
        bus.down = True
        for event in events(200):
            assert outbox.offer("payments", event)
        await _until(lambda: outbox.stats.spool_depth == 200)
        assert outbox.stats.published == 0
        bus.down = False
        for event in events(50, start=200):
            assert outbox.offer("payments", event)
        await _until(lambda: outbox.stats.published == 250 and outbox.stats.spool_depth == 0)
        assert await _drain(bus, 250) == list(range(250))
        await outbox.close()
        await bus.close()

    asyncio.run(scenario())


def test_when_the_spool_is_full_offer_says_no_counts_and_logs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> None:
        bus = FlakyBus(embedded_bus(tmp_path))
        bus.down = True
        outbox = Outbox(bus, tmp_path / "outbox.db", max_queue=10, max_spooled=30, batch_size=10)  # type: ignore[arg-type]
        await outbox.start()
        accepted = 0
        for start in range(0, 200, 10):
            accepted += sum(outbox.offer("payments", e) for e in events(10, start=start))
            await _until(lambda: outbox.stats.queued == 0 or outbox.stats.spool_depth == 30)
        assert outbox.stats.spool_depth == 30 and outbox.stats.queued <= 10
        assert 30 <= accepted <= 40 and outbox.stats.rejected == 200 - accepted
        await outbox.close()
        await bus.close()

    with caplog.at_level(logging.WARNING, logger="ailayer.events.outbox"):
        asyncio.run(scenario())
    assert any("outbox full: rejected" in r.getMessage() for r in caplog.records)


def test_close_spools_the_queue_and_the_next_process_drains_it(tmp_path: Path) -> None:
    async def scenario() -> None:
        bus = FlakyBus(embedded_bus(tmp_path))
        bus.down = True
        first = Outbox(bus, tmp_path / "outbox.db")  # type: ignore[arg-type]
        await first.start()
        for event in events(20):
            first.offer("payments", event)
        await first.close()
        assert first.stats.spool_depth == 20
        bus.down = False
        second = Outbox(bus, tmp_path / "outbox.db")  # type: ignore[arg-type]
        await second.start()
        assert await _drain(bus, 20) == list(range(20))
        await second.close()
        await bus.close()

    asyncio.run(scenario())


def test_one_spool_file_per_process(tmp_path: Path) -> None:
    async def scenario() -> None:
        bus = embedded_bus(tmp_path)
        first = Outbox(bus, tmp_path / "outbox.db")
        await first.start()
        with pytest.raises(BackendUnavailable, match="cannot be used"):
            await Outbox(bus, tmp_path / "outbox.db").start()
        await first.close()
        await bus.close()

    asyncio.run(scenario())


def test_offer_refuses_an_event_the_bus_would_refuse(tmp_path: Path) -> None:
    outbox = Outbox(embedded_bus(tmp_path), tmp_path / "outbox.db")
    event = events(1)[0]
    with pytest.raises(InvalidInput, match="topic"):
        outbox.offer("Bad Topic", event)


def test_a_broken_erase_request_folder_does_not_stop_publishing(tmp_path: Path) -> None:
    async def scenario() -> None:
        (tmp_path / "outbox.db.erase").write_text("not a folder")
        bus = FlakyBus(embedded_bus(tmp_path))
        outbox = Outbox(bus, tmp_path / "outbox.db", batch_size=10)  # type: ignore[arg-type]
        await outbox.start()
        await asyncio.sleep(0.05)  # the first look for erase requests fails
        assert all(outbox.offer("payments", e) for e in events(20))
        await _until(lambda: outbox.stats.published == 20)
        await outbox.close()
        await bus.close()

    asyncio.run(scenario())
