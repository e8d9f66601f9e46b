"""A stream-runner process for the kill -9 test (``test_stream_runner_faults.py``).

``python -m tests.support.stream_worker BUS_URL OFFLINE_DIR ONLINE_URL TOPIC``
runs ``StreamRunner`` on the view below. Its third commit writes the offline log and the
online store and then never returns (the online write prints ``HOLD`` and blocks), so that
commit's events are applied and logged but never acked; the test then kills the process.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from ailayer.events import open_bus
from ailayer.features import Aggregation, Entity, StreamFeatureView, open_online_store
from ailayer.features.files import open_folder
from ailayer.features.stores.online import OnlineStore, UsRow
from ailayer.features.streaming import StreamRunner

TENANT = "acme"
GROUP = "stream-faults"
T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
account = Entity("account", {"account_id": int})


def view(topic: str):  # type: ignore[no-untyped-def]
    """Counts and sums over a day, timed by the events: nothing decays during the test,
    and redeliveries after the crash, which come out of order, are within the lateness."""
    return StreamFeatureView(
        "pay", [account], topic, "payment.created",
        [Aggregation("n", None, "count", timedelta(days=1)),
         Aggregation("total", "amount", "sum", timedelta(days=1))],
        timestamp_field="at", allowed_lateness=timedelta(days=1),
    )  # fmt: skip


class HoldingOnline:
    """An online store whose ``hold_at``-th write completes, then blocks for good."""

    def __init__(self, store: OnlineStore, hold_at: int) -> None:
        self.store, self.hold_at, self.writes = store, hold_at, 0

    def write_batch_us(
        self, tenant_id: str, view: str, rows: Sequence[UsRow], ttl: timedelta | None = None
    ) -> None:
        self.store.write_batch_us(tenant_id, view, rows, ttl)
        self.writes += 1
        if self.writes >= self.hold_at:
            print("HOLD", flush=True)
            time.sleep(3600)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


def runner(bus, offline_dir: str, online, topic: str, consumer: str, **options):  # type: ignore[no-untyped-def]
    return StreamRunner(
        bus, view(topic), TENANT, open_folder(f"file://{offline_dir}"), online,
        group=GROUP, consumer=consumer, batch_size=100, flush_rows=200, flush_interval=0.05,
        ack_wait=1.0, fetch_timeout=0.1, clock="event", **options,
    )  # fmt: skip


async def main(bus_url: str, offline_dir: str, online_url: str, topic: str) -> None:
    bus = open_bus(bus_url)
    online = HoldingOnline(open_online_store(online_url), hold_at=3)
    await runner(bus, offline_dir, online, topic, "doomed").run()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
