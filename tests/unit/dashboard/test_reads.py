"""The console's read models: the numbers the pages show come from the same services as
the API, limited to the signed-in tenant."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from datetime import UTC, datetime, timedelta

import pytest

from ailayer.core.errors import InvalidInput
from ailayer.dashboard.reads import events as event_reads
from ailayer.dashboard.reads import traffic
from ailayer.dashboard.reads.operations import AuditFilter, audit_entries
from ailayer.dashboard.reads.recent import Pending, Recent
from ailayer.events.deadletter import dead_letter, dead_letter_topic
from ailayer.governance import audit
from ailayer.monitoring.log.rollup import LogRollup
from ailayer.rollout.policy import Variant
from tests.support.events import embedded_bus, events
from tests.support.variant_traffic import log_request as log

STABLE = Variant("stable", "fraud", 1, 100)


def test_endpoint_traffic_is_the_rollup_of_the_last_hour_and_day(services) -> None:  # type: ignore[no-untyped-def]
    tenant = services.keys.create_tenant("acme")
    other = services.keys.create_tenant("globex")
    now = datetime.now(UTC)
    log(services, tenant, STABLE, now - timedelta(minutes=20), 5.0)
    log(services, tenant, STABLE, now - timedelta(minutes=21), 5.0, error="x")
    log(services, tenant, STABLE, now - timedelta(hours=5), 5.0)
    log(services, tenant, STABLE, now - timedelta(days=2), 5.0)
    log(services, other, STABLE, now - timedelta(minutes=20), 5.0)
    services.prediction_log.flush()
    rollup = LogRollup(services.db, services.offline.tenant_root, grace=timedelta(0))
    rollup.run_once(datetime.now(UTC) + timedelta(seconds=1))

    (row,) = traffic.endpoints(rollup, tenant, now + timedelta(minutes=5))
    assert row.endpoint == "fraud"
    assert (row.hour.requests, row.hour.errors, row.hour.error_rate) == (2, 1, 0.5)
    assert row.day.requests == 3
    series = traffic.versions(
        rollup, tenant, "fraud", now - timedelta(days=1), now + timedelta(minutes=5)
    )
    assert [v.label for v in series] == ["fraud v1 (stable)"]
    assert sum(p.totals.requests for p in series[0].points) == 3


def test_step_sizes_are_whole_buckets() -> None:
    assert traffic.step_for(timedelta(hours=1)) == 300
    assert traffic.step_for(timedelta(days=1)) == 1800
    assert traffic.step_for(timedelta(days=7)) % 300 == 0


def test_recent_computes_once_per_key_within_its_ttl() -> None:
    calls = []
    recent = Recent(ttl=60)
    for _ in range(3):
        assert recent.get(("t", 1), lambda: calls.append(1) or len(calls)) == 1
    assert recent.get(("u", 1), lambda: 7) == 7
    assert Recent(ttl=0).get("k", lambda: 1) == 1


def test_audit_filters_and_pages_within_the_tenant(services) -> None:  # type: ignore[no-untyped-def]
    tenant = services.keys.create_tenant("acme")
    other = services.keys.create_tenant("globex")
    with services.db.write() as conn:
        for i in range(5):
            audit.record(
                conn, tenant, "alice" if i % 2 else "bob", "deployment.promote", f"endpoint/e{i}"
            )
        audit.record(conn, tenant, "alice", "model.register", "model/fraud")
        audit.record(conn, other, "alice", "deployment.promote", "endpoint/e0")

    alice = audit_entries(services.db, tenant, AuditFilter(actor="alice", action="deployment."))
    assert [e["target"] for e in alice.entries] == ["endpoint/e3", "endpoint/e1"]
    first = audit_entries(services.db, tenant, AuditFilter(action="deployment."), limit=3)
    assert first.next_before is not None
    rest = audit_entries(
        services.db,
        tenant,
        dataclasses.replace(AuditFilter(action="deployment."), before_seq=first.next_before),
        limit=3,
    )
    targets = [e["target"] for e in first.entries + rest.entries]
    assert targets == [f"endpoint/e{i}" for i in range(4, -1, -1)] and rest.next_before is None
    assert all(e["tenant_id"] == tenant for e in alice.entries + first.entries + rest.entries)
    with pytest.raises(InvalidInput) as caught:
        AuditFilter(since=datetime(2026, 2, 1, tzinfo=UTC), until=datetime(2026, 1, 1, tzinfo=UTC))
    assert caught.value.field == "since"


def test_dead_letters_are_listed_and_replayed_per_tenant(tmp_path) -> None:  # type: ignore[no-untyped-def]
    async def scenario() -> None:
        bus = embedded_bus(tmp_path)
        try:
            mine = [dataclasses.replace(e, tenant="acme") for e in events(2)]
            theirs = [dataclasses.replace(e, id=f"x-{e.id}", tenant="globex") for e in events(1)]
            letters = [
                dead_letter(e, topic="payments", group="g", error=ValueError("bad"), attempts=3)
                for e in mine + theirs
            ]
            await bus.publish(dead_letter_topic("payments"), letters)

            shown = await event_reads.dead_letters(bus, "acme", "payments")
            assert [d.id for d in shown] == [e.id for e in mine]
            assert shown[0].error == "ValueError: bad" and shown[0].topic == "payments"

            replayed = await event_reads.replay(bus, "acme", "payments")
            assert replayed == [("payments", e.id) for e in mine]
            assert await event_reads.dead_letters(bus, "acme", "payments") == []
            left = await event_reads.dead_letters(bus, "globex", "payments")
            assert [d.id for d in left] == [theirs[0].id]
            (lag,) = await event_reads.lags(bus, {"payments": ["g"]})
            assert (lag.topic, lag.group, lag.lag) == ("payments", "g", 2)
        finally:
            await bus.close()

    asyncio.run(scenario())


def test_soon_answers_pending_then_the_value_and_refreshes_in_the_background() -> None:
    import threading

    release = threading.Event()
    calls: list[int] = []

    def slow() -> int:
        release.wait(5)
        calls.append(1)
        return len(calls)

    recent = Recent(ttl=60)
    first = recent.soon(("t", "r"), slow)
    assert isinstance(first, Pending)
    assert isinstance(recent.soon(("t", "r"), slow), Pending)  # one computation, not two
    release.set()
    for _ in range(100):
        value = recent.soon(("t", "r"), slow)
        if not isinstance(value, Pending):
            break
        time.sleep(0.02)
    assert value == 1 and calls == [1]

    def broken() -> int:
        raise InvalidInput("no reference for this version", field="reference")

    assert isinstance(recent.soon(("t", "x"), broken), Pending)
    for _ in range(100):
        try:
            recent.soon(("t", "x"), broken)
        except InvalidInput as exc:
            assert exc.field == "reference"
            break
        time.sleep(0.02)
    else:
        raise AssertionError("the failure was never raised")
