"""The scheduler over a real metadata database: schedules, new data and alerts fire once
per firing, a pipeline runs once at a time, a failing launch is recorded and the
scheduler goes on, and every firing's decision is in the audit log."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

from ailayer.core.errors import InvalidInput
from ailayer.features.files import Folder
from ailayer.features.files.local import LocalFiles
from ailayer.pipelines.lease import LeaseRows, open_lease
from ailayer.pipelines.scheduler import Scheduler
from ailayer.pipelines.sizes import OfflineSizes
from ailayer.pipelines.triggers import Declared, NewData, OnAlert, Schedule
from tests.support.scheduler import Clock, RecordingLaunch, decisions, migrated


@pytest.fixture
def db_and_tenant(tmp_path: Path) -> Iterator[tuple]:
    db, tenant = migrated(f"sqlite:///{tmp_path / 'meta.db'}")
    yield db, tenant
    db.dispose()


@pytest.fixture
def offline(tmp_path: Path) -> Folder:
    return LocalFiles.folder(str(tmp_path / "offline"))


def make(db_and_tenant, offline, triggers, **kw) -> tuple[Scheduler, RecordingLaunch, Clock]:  # type: ignore[no-untyped-def]
    db, tenant = db_and_tenant
    launch, clock = RecordingLaunch(), Clock()
    entries = [Declared(tenant, "retrain", tuple(triggers))]
    scheduler = Scheduler(
        lambda: entries,
        launch,
        db=db,
        lease=kw.pop("lease", None) or open_lease(db),
        sizes=OfflineSizes(lambda t: offline.child(t)),
        clock=clock,
    )
    return scheduler, launch, clock


def append_rows(offline: Folder, tenant: str, count: int, name: str) -> None:
    table = pa.table({"account_id": list(range(count)), "amount": [1.0] * count})
    offline.child(tenant, "payments").write_parquet(name, table)


def fired(alert_kind: str = "drift_share", at: float | None = None, **fields) -> dict:  # type: ignore[no-untyped-def]
    body = {"status": "firing", "kind": alert_kind, "endpoint": "fraud", "model": "fraud",
            "rule": "fraud-drift", "id": "a1", "at": at if at is not None else time.time()}  # fmt: skip
    return {**body, **fields}


def test_a_schedule_fires_once_per_due_minute(db_and_tenant, offline) -> None:  # type: ignore[no-untyped-def]
    scheduler, launch, clock = make(db_and_tenant, offline, [Schedule("0 * * * *")])
    assert scheduler.run_once() == []  # first look: counts from now, fires nothing
    clock.advance(seconds=45)  # 12:00:15
    [decision] = scheduler.run_once()
    assert decision.outcome == "launched" and decision.run_id == "run-1"
    assert decision.trigger["due"] == "2026-12-06T12:00:00+00:00"
    assert scheduler.run_once() == []  # the same minute again: nothing
    clock.advance(hours=3)  # missed firings make one run, not three
    assert [d.outcome for d in scheduler.run_once()] == ["launched"]
    assert [run[2]["due"] for run in launch.runs] == [
        "2026-12-06T12:00:00+00:00",
        "2026-12-06T15:00:00+00:00",
    ]
    assert decisions(*db_and_tenant) == [("schedule:0 * * * *", "launched", "launched")] * 2


def test_new_data_fires_when_a_source_grew_past_its_threshold(db_and_tenant, offline) -> None:  # type: ignore[no-untyped-def]
    _, tenant = db_and_tenant
    append_rows(offline, tenant, 500, "a.parquet")
    trigger = NewData(source="payments", rows=1000)
    scheduler, launch, _ = make(db_and_tenant, offline, [trigger])
    assert scheduler.run_once() == []  # baseline: 500 rows
    append_rows(offline, tenant, 600, "b.parquet")
    assert scheduler.run_once() == []  # grew by 600 < 1000
    append_rows(offline, tenant, 400, "c.parquet")
    [decision] = scheduler.run_once()
    assert decision.outcome == "launched"
    assert decision.trigger["grown"]["rows"] == 1000 and decision.trigger["size"]["rows"] == 1500
    assert scheduler.run_once() == []  # counted again from 1500
    assert [run[2]["source"] for run in launch.runs] == ["payments"]


def test_new_data_by_bytes_and_a_rewritten_source_resets_the_baseline(
    db_and_tenant, offline
) -> None:  # type: ignore[no-untyped-def]
    _, tenant = db_and_tenant
    append_rows(offline, tenant, 2000, "a.parquet")
    scheduler = make(db_and_tenant, offline, [NewData(source="payments", bytes=1)])[0]
    scheduler.run_once()
    (Path(offline.child(tenant, "payments").location("a.parquet"))).unlink()
    append_rows(offline, tenant, 10, "small.parquet")
    assert scheduler.run_once() == []  # shrank: a new baseline, no run
    append_rows(offline, tenant, 10, "more.parquet")
    assert [d.outcome for d in scheduler.run_once()] == ["launched"]


def test_an_alert_trigger_filters_kind_endpoint_and_model(db_and_tenant, offline) -> None:  # type: ignore[no-untyped-def]
    _, tenant = db_and_tenant
    triggers = [OnAlert(kind="drift", endpoint="fraud")]
    scheduler, launch, _ = make(db_and_tenant, offline, triggers)
    assert scheduler.on_alert(tenant, fired("latency")) == []  # performance, not drift
    assert scheduler.on_alert(tenant, fired(endpoint="churn")) == []
    assert scheduler.on_alert(tenant, fired(status="resolved")) == []
    assert scheduler.on_alert("another-tenant", fired()) == []
    [decision] = scheduler.on_alert(tenant, fired("concept_drift", at=100.0, id="a2"))
    assert decision.outcome == "launched"
    assert decision.trigger["alert"]["id"] == "a2"
    assert scheduler.on_alert(tenant, fired(at=100.0)) == []  # redelivered: already acted on
    assert scheduler.on_alert(tenant, fired(at=50.0)) == []  # older than the last acted on
    assert len(launch.runs) == 1


def test_an_alert_with_a_value_json_cannot_hold_is_still_audited(metadata_url, offline) -> None:  # type: ignore[no-untyped-def]
    db, tenant = migrated(metadata_url)
    try:
        scheduler = make((db, tenant), offline, [OnAlert(kind="drift")])[0]
        [decision] = scheduler.on_alert(tenant, fired(value=float("nan")))
        assert decision.trigger["alert"]["value"] == "nan"
        assert [d[1] for d in decisions(db, tenant)] == ["launched"]  # PostgreSQL's JSON too
    finally:
        db.dispose()


def test_performance_alerts_match_their_rule_kinds(db_and_tenant, offline) -> None:  # type: ignore[no-untyped-def]
    _, tenant = db_and_tenant
    scheduler = make(db_and_tenant, offline, [OnAlert(kind="performance", model="fraud")])[0]
    assert scheduler.on_alert(tenant, fired("drift_share", at=1.0)) == []
    assert [d.outcome for d in scheduler.on_alert(tenant, fired("metric", at=2.0))] == ["launched"]


def test_two_triggers_at_once_make_one_run(db_and_tenant, offline) -> None:  # type: ignore[no-untyped-def]
    _, tenant = db_and_tenant
    append_rows(offline, tenant, 10, "a.parquet")
    triggers = [Schedule("0 * * * *"), NewData(source="payments", rows=5)]
    scheduler, launch, clock = make(db_and_tenant, offline, triggers)
    scheduler.run_once()
    clock.advance(minutes=1)
    append_rows(offline, tenant, 10, "b.parquet")
    outcomes = [(d.trigger["key"], d.outcome, d.reason) for d in scheduler.run_once()]
    assert outcomes == [
        ("schedule:0 * * * *", "launched", "launched"),
        (triggers[1].key, "skipped", "fired with schedule:0 * * * *: one run for both"),
    ]
    assert len(launch.runs) == 1 and launch.runs[0][2]["with"] == [triggers[1].key]
    assert [d[1] for d in decisions(*db_and_tenant)] == ["launched", "skipped"]


def test_a_running_pipeline_is_skipped(db_and_tenant, offline) -> None:  # type: ignore[no-untyped-def]
    db, tenant = db_and_tenant
    other = LeaseRows(db)  # another scheduler, launching this pipeline right now
    assert other.acquire(tenant, "retrain")
    scheduler, launch, clock = make(db_and_tenant, offline, [Schedule("* * * * *")])
    scheduler.run_once()
    clock.advance(minutes=1)
    [decision] = scheduler.run_once()
    assert (decision.outcome, decision.reason) == (
        "skipped",
        "already running: a launch of it holds its lease",
    )
    other.release(tenant, "retrain")
    launch.running = True  # a run the pipelines core still runs
    clock.advance(minutes=1)
    [decision] = scheduler.run_once()
    assert decision.outcome == "skipped" and "a run of retrain is running" in decision.reason
    launch.running = False
    clock.advance(minutes=1)
    assert [d.outcome for d in scheduler.run_once()] == ["launched"]
    assert [d[1] for d in decisions(db, tenant)] == ["skipped", "skipped", "launched"]


def test_a_launch_that_raises_is_recorded_and_the_scheduler_goes_on(db_and_tenant, offline) -> None:  # type: ignore[no-untyped-def]
    db, tenant = db_and_tenant
    scheduler, launch, clock = make(db_and_tenant, offline, [Schedule("* * * * *")])
    scheduler.run_once()
    launch.fail = RuntimeError("trainer image missing")
    clock.advance(minutes=1)
    [decision] = scheduler.run_once()
    assert decision.outcome == "failed"
    assert decision.reason == "launch: RuntimeError: trainer image missing"
    launch.fail = None
    clock.advance(minutes=1)
    assert [d.outcome for d in scheduler.run_once()] == ["launched"]
    assert scheduler.counts.failed == 1 and scheduler.counts.launched == 1
    assert [d[1] for d in decisions(db, tenant)] == ["failed", "launched"]
    assert open_lease(db).acquire(tenant, "retrain")  # the lease was let go after the failure


def test_a_trigger_that_cannot_be_checked_does_not_stop_the_others(db_and_tenant, offline) -> None:  # type: ignore[no-untyped-def]
    _, tenant = db_and_tenant
    offline.child(tenant, "payments").write_parquet("a.parquet", pa.table({"x": [1]}))
    broken = Path(offline.child(tenant, "payments").location("bad.parquet"))
    broken.write_bytes(b"not parquet at all")
    triggers = [NewData(source="payments", rows=1), Schedule("* * * * *")]
    scheduler, _, clock = make(db_and_tenant, offline, triggers)
    scheduler.run_once()
    clock.advance(minutes=1)
    assert [d.trigger["key"] for d in scheduler.run_once()] == ["schedule:* * * * *"]
    assert scheduler.counts.errors == 2


def test_one_replica_claims_a_firing_both_see(db_and_tenant, offline) -> None:  # type: ignore[no-untyped-def]
    first, launch, clock = make(db_and_tenant, offline, [Schedule("0 * * * *")])
    second = Scheduler(first.declared, launch, db=first.db, lease=open_lease(first.db), clock=clock)
    first.run_once()
    clock.advance(minutes=1)
    assert [d.outcome for d in first.run_once()] == ["launched"]
    assert second.run_once() == []
    assert len(launch.runs) == 1 and second.counts.claimed_elsewhere == 0  # saw it done


def test_a_source_path_that_leaves_the_store_is_refused(offline) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidInput, match="leaves the offline store"):
        OfflineSizes(lambda t: offline.child(t)).size("acme", "../other-tenant/payments")
