"""The retention job over the offline store and the metadata database: what is older
than the settings allow goes, the rest stays, and what went is counted in /metrics and
in the tenant's audit trail."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from pydantic import ValidationError

from ailayer.bootstrap import Services, retention_job, start_retention
from ailayer.core.retention import Retention
from ailayer.features.datasets import DatasetVersion, get_dataset, save_dataset
from ailayer.features.files import Folder
from ailayer.governance import audit
from ailayer.models.service import NewVersion
from ailayer.retention import RetentionJob
from ailayer.retention.metrics import RetentionCollector
from tests.support.services import SIGNATURE, tiny_sklearn_model

NOW = datetime(2026, 12, 6, 12, tzinfo=UTC)
TABLE = pa.table({"x": [1, 2, 3]})


def part(folder: Folder, name: str = "part-a.parquet") -> str:
    return folder.write_parquet(name, TABLE)


def seed_log(root: Folder) -> dict[str, str]:
    """A prediction log and feedback part of 40 days ago and of yesterday, and stream
    event parts written 10 days and 1 hour ago."""
    old, new = (NOW - timedelta(days=40)).date(), (NOW - timedelta(days=1)).date()
    ten_days = int((NOW - timedelta(days=10)).timestamp() * 1e9)
    hour = int((NOW - timedelta(hours=1)).timestamp() * 1e9)
    events = root.child("streams", "clicks@1", "events")
    return {
        "old_prediction": part(root.child("_predictions", "endpoint=fraud", f"date={old}")),
        "new_prediction": part(root.child("_predictions", "endpoint=fraud", f"date={new}")),
        "old_feedback": part(root.child("_feedback", f"date={old}")),
        "new_feedback": part(root.child("_feedback", f"date={new}")),
        "old_events": part(events, f"part-{ten_days:020d}-t1.parquet"),
        "new_events": part(events, f"part-{hour:020d}-t1.parquet"),
    }


def seed_datasets(services: Services, tenant_id: str, count: int) -> list[str]:
    """``count`` saved training sets, one a day up to today, oldest first."""
    root = services.offline.tenant_root(tenant_id).child("datasets")
    made = []
    for index in range(count):
        record = DatasetVersion(
            id=f"{index:032x}",
            content_sha256="0" * 64,
            row_count=3,
            schema=[],
            features=[],
            definitions={},
            start_at=None,
            end_at=None,
            location=root.child(f"{index:032x}.parquet").url,
            created_at=NOW - timedelta(days=count - index),
            created_by="alice",
        )
        save_dataset(services.db, tenant_id, record)
        part(root, f"{record.id}.parquet")
        made.append(record.id)
    return made


def job_of(services: Services, **policy) -> RetentionJob:  # type: ignore[no-untyped-def]
    return RetentionJob(services.db, services.offline.tenant_root, Retention(**policy))


def test_old_log_feedback_and_events_go_and_recent_ones_stay(services: Services) -> None:
    tenant_id = services.keys.create_tenant("acme")
    root = services.offline.tenant_root(tenant_id)
    files = seed_log(root)
    job = job_of(services, prediction_log_days=30, feedback_days=30, events_days=7)
    (removed,) = job.run_once(NOW)
    assert dict(removed.counts) == {"prediction_log": 1, "feedback": 1, "events": 1}
    for name, location in files.items():
        assert root.files.is_file(location) == name.startswith("new"), name
    with services.db.read() as conn:
        (entry,) = audit.entries(conn, tenant_id, "retention")
    assert entry["action"] == "retention.purge"
    assert entry["detail"]["removed"] == {"prediction_log": 1, "feedback": 1, "events": 1}
    assert job.run_once(NOW)[0].any is False  # nothing left to remove, nothing recorded


def test_datasets_beyond_the_count_go_but_one_a_model_names_stays(services: Services) -> None:
    tenant_id = services.keys.create_tenant("acme")
    ids = seed_datasets(services, tenant_id, 5)
    tiny = tiny_sklearn_model()
    services.registry.register(
        tenant_id,
        "alice",
        NewVersion(
            model="fraud",
            flavor="sklearn",
            artifact=tiny.artifact,
            signature=SIGNATURE,
            dataset_version=ids[0],  # the oldest: lineage keeps it
        ),
    )
    (removed,) = job_of(services, datasets_keep=2).run_once(NOW)
    assert removed.counts["datasets"] == 2  # ids[1], ids[2]
    folder = services.offline.tenant_root(tenant_id).child("datasets")
    for index, dataset_id in enumerate(ids):
        kept = index in (0, 3, 4)
        assert folder.child(f"{dataset_id}.parquet").is_file() == kept
        if kept:
            get_dataset(services.db, tenant_id, dataset_id)


def test_datasets_older_than_the_days_go(services: Services) -> None:
    tenant_id = services.keys.create_tenant("acme")
    seed_datasets(services, tenant_id, 5)  # 5, 4, 3, 2 and 1 days old
    (removed,) = job_of(services, datasets_days=3).run_once(NOW)
    assert removed.counts["datasets"] == 2


def test_what_went_is_in_metrics(services: Services) -> None:
    tenant_id = services.keys.create_tenant("acme")
    seed_log(services.offline.tenant_root(tenant_id))
    job = job_of(services, prediction_log_days=30)
    job.run_once(NOW)
    registry = CollectorRegistry()
    registry.register(RetentionCollector(job))
    text = generate_latest(registry).decode()
    assert 'ailayer_retention_removed_total{store="prediction_log"} 1.0' in text
    assert 'ailayer_retention_removed_total{store="feedback"} 0.0' in text
    assert "ailayer_retention_passes_total 1.0" in text


@pytest.mark.parametrize(
    "field", ["prediction_log_days", "feedback_days", "events_days", "datasets_keep", "audit_years"]
)
def test_a_retention_of_zero_is_refused_naming_the_setting(make_settings, field: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationError) as caught:
        make_settings(retention={field: 0})
    assert f"retention.{field}" in str(caught.value)
    assert "at least 1" in str(caught.value)


def test_the_thread_starts_only_when_some_retention_is_set(make_settings) -> None:  # type: ignore[no-untyped-def]
    from ailayer.bootstrap import build

    for retention, started in (({}, False), ({"audit_years": 7, "interval_seconds": 0}, False)):
        built = build(make_settings(retention=retention))
        try:
            assert (start_retention(built) is not None) is started
        finally:
            built.close()
    built = build(make_settings(retention={"audit_years": 7, "interval_seconds": 3600}))
    try:
        thread = start_retention(built)
        assert thread is not None and thread.job.policy.audit_years == 7
        thread.stop()
        assert retention_job(built).policy == built.settings.retention
    finally:
        built.close()


def test_rollup_rows_of_the_removed_days_go_too(services: Services) -> None:
    from ailayer.db.tables import log_rollups

    tenant_id = services.keys.create_tenant("acme")
    other = services.keys.create_tenant("globex")
    first_kept = int(datetime(2026, 11, 6, tzinfo=UTC).timestamp())  # NOW - 30 days, at 0:00
    row = {
        "endpoint": "fraud", "model": "fraud", "version": 1, "alias": "", "requests": 1,
        "predictions": 1, "errors": 0, "answered": 1, "latency_sum": 1.0,
        "latency_histogram": "[10, 1]", "scores": 0, "score_sum": 0.0, "score_sumsq": 0.0,
    }  # fmt: skip
    with services.db.write() as conn:
        for tenant, bucket in [(tenant_id, first_kept - 300), (tenant_id, first_kept), (other, 0)]:
            conn.execute(log_rollups.insert().values(tenant_id=tenant, bucket=bucket, **row))
    (removed, _) = sorted(
        job_of(services, prediction_log_days=30).run_once(NOW),
        key=lambda r: r.tenant_id != tenant_id,
    )
    assert removed.counts["log_rollups"] == 1
    with services.db.read() as conn:
        left = conn.execute(log_rollups.select().where(log_rollups.c.tenant_id == tenant_id)).all()
    assert [r.bucket for r in left] == [first_kept]
