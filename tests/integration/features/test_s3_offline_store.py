"""``offline_store: s3://...`` end to end against moto's S3 server (over HTTP, as MinIO or
AWS would be reached): sources read in place, training sets equal to a local store's and
saved to S3, materialization, the prediction log and feedback, a stream view's log."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from ailayer.bootstrap import Services, build
from ailayer.core.errors import InvalidInput
from ailayer.core.ids import new_id
from ailayer.events import open_bus
from ailayer.events.envelope import new_event
from ailayer.features import (
    Aggregation,
    Entity,
    Feature,
    FeatureView,
    OfflineStore,
    ParquetSource,
    StreamFeatureView,
)
from ailayer.features.datasets import content_hash
from ailayer.features.streaming import StreamRunner
from ailayer.monitoring.log.feedback import Feedback
from tests.support import feature_repo
from tests.support.feature_repo import REPO, customer, entity_df
from tests.support.log_records import items, target


@pytest.fixture
def s3(make_settings, s3_bucket: str) -> Iterator[tuple[Services, str, str]]:  # type: ignore[no-untyped-def]
    services = build(
        make_settings(
            offline_store=f"s3://{s3_bucket}/offline", feature_repo="tests.support.feature_repo"
        )
    )
    tenant = services.keys.create_tenant("acme")
    services.features.apply(tenant, "test", REPO)
    feature_repo.write_data(services.offline.tenant_root(tenant))
    yield services, tenant, s3_bucket
    services.close()


def test_training_set_from_s3_equals_a_local_store_and_is_saved_there(s3, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    services, tenant, bucket = s3
    local = OfflineStore(f"file://{tmp_path / 'local'}", services.db, services.features, REPO)
    feature_repo.write_data(local.tenant_root(tenant))

    frame, dataset = services.offline.get_training_set(tenant, entity_df(), "fraud")
    expected, local_dataset = local.get_training_set(tenant, entity_df(), "fraud")

    pd.testing.assert_frame_equal(frame, expected)
    assert list(frame["avg_amount"]) == [10.0, 20.0, 0.0, 0.0, 0.0]
    assert dataset.content_sha256 == local_dataset.content_sha256
    assert dataset.location == f"s3://{bucket}/offline/{tenant}/datasets/{dataset.id}.parquet"
    saved = services.offline.read_dataset(tenant, dataset.id)
    assert saved is not None and content_hash(saved) == dataset.content_sha256


def test_bad_sources_on_s3_are_named(s3) -> None:  # type: ignore[no-untyped-def]
    services, tenant, _ = s3
    missing = FeatureView(
        "ghost", [customer], [Feature("x", float)], ParquetSource("nowhere", "ts")
    )
    climbing = FeatureView(
        "climber", [customer], [Feature("x", float)], ParquetSource("../other/x.parquet", "ts")
    )
    services.features.apply(tenant, "test", [customer, missing, climbing])
    with pytest.raises(InvalidInput, match="does not exist"):
        services.offline.get_training_set(tenant, entity_df(), ["ghost:x"])
    with pytest.raises(InvalidInput, match="leaves the offline store"):
        services.offline.get_training_set(tenant, entity_df(), ["climber:x"])


def test_materialize_reads_sources_from_s3(s3) -> None:  # type: ignore[no-untyped-def]
    services, tenant, _ = s3
    hours = (datetime.now(UTC) - feature_repo.T0) / timedelta(hours=1)
    root = services.offline.tenant_root(tenant)
    feature_repo.write_customer_stats(root, [(1, hours - 3, 10.0, 4), (1, hours - 1, 20.0, 5)])
    now = datetime.now(UTC)
    services.materializer.materialize(tenant, ["customer_stats"], now - timedelta(days=1), now)
    [row] = services.feature_server.get_online_features(
        tenant, ["customer_stats:avg_amount", "customer_stats:txn_count"], [{"customer_id": 1}]
    )
    assert (row["avg_amount"], row["txn_count"]) == (20.0, 5)


def test_prediction_log_and_feedback_live_in_s3(s3) -> None:  # type: ignore[no-untyped-def]
    services, tenant, bucket = s3
    log = services.prediction_log
    ids = [new_id(), new_id()]
    answered = [{**item, "prediction_id": i} for item, i in zip(items(2), ids, strict=True)]
    log.record(tenant, target(), [{"amount": 1.0}, {"amount": 2.0}], answered, time.perf_counter())
    assert log.flush() == 2
    assert [r["prediction_id"] for r in log.query(tenant, "fraud").to_pylist()] == ids
    [file] = log.window_files(
        tenant, "fraud", datetime.now(UTC) - timedelta(hours=1), datetime.now(UTC)
    )
    assert file.startswith(f"s3://{bucket}/offline/{tenant}/_predictions/endpoint=fraud/date=")
    assert services.prediction_log.endpoints(tenant) == {"fraud"}

    answer = services.feedback.submit(tenant, [Feedback(ids[1], True)])
    assert answer["accepted"] == 1
    [labels] = log.label_files(tenant)
    assert labels.startswith(f"s3://{bucket}/offline/{tenant}/_feedback/date=")
    sql = "SELECT prediction_id, label FROM read_parquet(?)"
    assert log.fetch_all(tenant, sql, [labels]) == [(ids[1], "true")]


account = Entity("account", {"account_id": int})
PAYMENTS = StreamFeatureView(
    "payments", [account], "s3-payments", "payment.created",
    [Aggregation("amount_10m", "amount", "sum", timedelta(minutes=10))],
    timestamp_field="at",
)  # fmt: skip
T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def test_a_stream_view_logs_to_s3_and_training_sets_read_it(s3, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    services, tenant, _ = s3
    services.features.apply(tenant, "test", [account, PAYMENTS])
    events = [
        new_event(
            "payment.created",
            "/billing",
            {"account_id": 1, "amount": amount, "at": (T0 + timedelta(minutes=m)).isoformat()},
            tenant=tenant,
        )
        for m, amount in ((0, 5.0), (3, 7.0), (20, 1.0))
    ]

    async def run() -> int:
        bus = open_bus(f"embedded://{tmp_path / 'bus.db'}")
        try:
            await bus.publish("s3-payments", events)
            runner = StreamRunner(
                bus, PAYMENTS, tenant, services.offline.tenant_root(tenant), services.online,
                clock="event", stop_when_idle=True, fetch_timeout=0.05,
            )  # fmt: skip
            return (await runner.run()).applied
        finally:
            await bus.close()

    assert asyncio.run(run()) == 3
    logged = services.offline.tenant_root(tenant).glob("streams/**/*.parquet")
    assert logged and all(f.startswith("s3://") for f in logged)
    entities = pd.DataFrame(
        {
            "account_id": [1, 1],
            "event_timestamp": [T0 + timedelta(minutes=4), T0 + timedelta(minutes=21)],
        }
    )
    frame, _ = services.offline.get_training_set(tenant, entities, ["payments:amount_10m"])
    assert list(frame["amount_10m"]) == [12.0, 1.0]
