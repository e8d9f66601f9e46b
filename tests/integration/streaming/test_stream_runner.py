"""A stream view on a real bus: what serving read at time t is what a training set gives at t.

Events go through the embedded bus into ``StreamRunner``; after each phase the online
store is read at that phase's time through ``FeatureServer``. Afterwards a point-in-time
training set for the same (entity, time) rows comes from ``OfflineStore`` — the ordinary
ASOF join over the values the runner logged — and must be equal, value for value. Also: a
restarted runner rebuilds its windows from the offline log and skips redeliveries, bad
data is dead-lettered, and events beyond the allowed lateness are counted and dropped.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd

from ailayer.db.engine import Database
from ailayer.db.migrate import upgrade
from ailayer.events import Event, open_bus
from ailayer.events.envelope import new_event
from ailayer.features import (
    Aggregation,
    Entity,
    FeatureRegistry,
    FeatureServer,
    OfflineStore,
    StreamFeatureView,
    open_online_store,
)
from ailayer.features.streaming import StreamRunner
from ailayer.governance.keys import KeyService

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
account = Entity("account", {"account_id": int})
VIEW = StreamFeatureView(
    "payments", [account], "payments", "payment.created",
    [
        Aggregation("payments_10m", None, "count", timedelta(minutes=10)),
        Aggregation("amount_10m", "amount", "sum", timedelta(minutes=10)),
        Aggregation("max_1h", "amount", "max", timedelta(hours=1), kind="tumbling"),
        Aggregation("merchants_30m", "merchant", "distinct_count", timedelta(minutes=30)),
    ],
    timestamp_field="at", allowed_lateness=timedelta(minutes=2),
)  # fmt: skip
REFS = [f"payments:{f.name}" for f in VIEW.features]


def payment(tenant: str, account_id: int, at: datetime, amount: float, merchant: str) -> Event:
    data = {"account_id": account_id, "amount": amount, "merchant": merchant, "at": at.isoformat()}
    return new_event("payment.created", "/billing", data, tenant=tenant)


def phases(tenant: str) -> list[tuple[datetime, list[Event]]]:
    """Batches of events and the time at which serving is read after each."""
    out = []
    for phase in range(6):
        events = []
        for i in range(12):
            at = T0 + timedelta(minutes=7 * phase, seconds=31 * i)
            events.append(payment(tenant, 1 + i % 3, at, float(i * phase + 1), f"m{i % 4}"))
        events.reverse()  # out of order within the phase (within the allowed lateness)
        out.append((T0 + timedelta(minutes=7 * phase, seconds=31 * 11), events))
    return out


def test_training_sets_give_what_serving_gave(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'meta.db'}")
    upgrade(db)
    tenant = KeyService(db).create_tenant("acme")
    registry = FeatureRegistry(db)
    registry.apply(tenant, "me", [account, VIEW])
    offline = OfflineStore(f"file://{tmp_path / 'offline'}", db, registry)
    online = open_online_store(f"sqlite:///{tmp_path / 'online.db'}")
    server = FeatureServer(registry, online, refresh_seconds=0)
    served: list[dict] = []

    async def main() -> None:
        bus = open_bus(f"embedded://{tmp_path / 'bus.db'}")
        try:
            for at, events in phases(tenant):
                await bus.publish("payments", events)
                runner = StreamRunner(
                    bus, VIEW, tenant, offline.tenant_root(tenant), online,
                    clock="event", stop_when_idle=True, fetch_timeout=0.05,
                )  # fmt: skip
                await runner.run()
                rows = [{"account_id": a} for a in (1, 2, 3, 4)]
                for row in server.get_online_features(tenant, REFS, rows, now=at, strict=False):
                    served.append({**row, "event_timestamp": at})
            await late_and_bad_events(bus, tenant, offline, online)
        finally:
            await bus.close()

    asyncio.run(main())
    entity_df = pd.DataFrame(
        [{"account_id": r["account_id"], "event_timestamp": r["event_timestamp"]} for r in served]
    )
    training, _ = offline.get_training_set(tenant, entity_df, REFS)
    expected = pd.DataFrame(served)[training.columns]
    pd.testing.assert_frame_equal(training, expected, check_dtype=False)
    assert expected["payments_10m"].max() > 0 and (expected["payments_10m"] == 0).any()
    online.close()
    db.dispose()


async def late_and_bad_events(bus, tenant: str, offline: OfflineStore, online) -> None:  # type: ignore[no-untyped-def]
    """Restart: redeliveries are skipped; too-late events are dropped; bad data dead-lettered."""
    late = T0 + timedelta(minutes=20)  # the newest seen is ~T0+40m; lateness is 2 min
    first = payment(tenant, 1, T0 + timedelta(minutes=41), 5.0, "m9")
    bad = new_event(
        "payment.created", "/billing", {"amount": 1.0, "at": late.isoformat()}, tenant=tenant
    )
    other = new_event(
        "payment.created", "/billing", {"account_id": 1, "at": late.isoformat()}, tenant="other"
    )
    await bus.publish("payments", [first, first, payment(tenant, 2, late, 9.0, "m1"), bad, other])
    runner = StreamRunner(
        bus, VIEW, tenant, offline.tenant_root(tenant), online,
        clock="event", stop_when_idle=True, fetch_timeout=0.05,
    )  # fmt: skip
    stats = await runner.run()
    assert (stats.applied, stats.duplicates, stats.late_dropped) == (1, 1, 1)
    assert (stats.invalid, stats.skipped) == (1, 1)
    letters = await bus.subscribe("payments-dlq", "check", "c1", ack_wait=1)
    [letter] = await letters.fetch(10, timeout=1)
    assert letter.event.id == bad.id and "account_id" in letter.event.extensions["dlqerror"]
    await letters.close()
    await bus.delete_topic("payments-dlq")
