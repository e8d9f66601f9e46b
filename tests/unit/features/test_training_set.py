"""Training sets end to end on the embedded stack: registry on SQLite, Parquet, DuckDB."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ailayer.core.errors import Conflict, InvalidInput
from ailayer.features import (
    Feature,
    FeatureRegistry,
    FeatureView,
    OfflineStore,
    ParquetSource,
    on_demand,
)
from tests.support.feature_repo import REPO, customer, database, entity_df, ts, write_data


@dataclass
class Stack:
    offline: OfflineStore
    registry: FeatureRegistry
    tenant: str
    root: Path


@pytest.fixture
def stack(tmp_path: Path):  # type: ignore[no-untyped-def]
    db, tenant = database(f"sqlite:///{tmp_path / 'meta.db'}")
    registry = FeatureRegistry(db)
    registry.apply(tenant, "alice", REPO)
    write_data(tmp_path / "offline" / tenant)
    yield Stack(
        OfflineStore(f"file://{tmp_path / 'offline'}", db, registry, REPO),
        registry,
        tenant,
        tmp_path / "offline" / tenant,
    )
    db.dispose()


def test_training_set_is_point_in_time_correct_and_recorded(stack: Stack) -> None:
    frame, dataset = stack.offline.get_training_set(
        stack.tenant, entity_df(), "fraud", actor="alice"
    )
    assert isinstance(frame, pd.DataFrame)
    assert list(frame["label"]) == [0, 1, 0, 0, 1]  # every row, in order, extra columns kept
    # customer 1 at 5h sees its 5h row (equal time counts); customer 2 at 30h is past the
    # 1-day TTL, so avg_amount falls back to its default 0.0 and txn_count is null
    assert list(frame["avg_amount"]) == [10.0, 20.0, 0.0, 0.0, 0.0]
    assert [None if math.isnan(v) else v for v in frame["txn_count"]] == [1, 2, None, None, None]
    assert [None if math.isnan(v) else v for v in frame["risk"]] == [0.1, 0.1, 0.5, 0.9, None]
    assert [None if math.isnan(v) else v for v in frame["amount_ratio"]] == [
        0.5,
        2.0,
        None,
        None,
        None,
    ]

    again = stack.offline.dataset(stack.tenant, dataset.id)
    assert again == dataset
    assert dataset.row_count == 5 and dataset.created_by == "alice"
    assert dataset.features == [
        "customer_stats:avg_amount",
        "customer_stats:txn_count",
        "merchant_risk:risk",
        "amount_ratio:amount_ratio",
    ]
    assert dataset.definitions["customer_stats"]["revision"] == 1
    assert (dataset.start_at, dataset.end_at) == (ts(1), ts(30))
    assert pq.read_table(dataset.location.removeprefix("file://")).num_rows == 5
    _, second = stack.offline.get_training_set(stack.tenant, entity_df(), "fraud", keep=False)
    assert second.content_sha256 == dataset.content_sha256 and second.id != dataset.id


def test_arrow_in_arrow_out_and_full_names(stack: Stack) -> None:
    table = pa.Table.from_pandas(
        entity_df()[["customer_id", "event_timestamp"]], preserve_index=False
    )
    result, _ = stack.offline.get_training_set(
        stack.tenant, table, ["customer_stats:txn_count"], full_names=True, keep=False
    )
    assert isinstance(result, pa.Table)
    assert result.column("customer_stats__txn_count").to_pylist() == [1, 2, None, None, None]


def test_bad_entity_tables(stack: Stack) -> None:
    frame = entity_df().astype({"customer_id": str})
    with pytest.raises(InvalidInput) as caught:
        stack.offline.get_training_set(stack.tenant, frame, "fraud")
    assert caught.value.field == "customer_id" and "int64" in caught.value.message
    with pytest.raises(InvalidInput, match="unknown features: customer_stats:nope, other:x"):
        stack.offline.get_training_set(
            stack.tenant, entity_df(), ["customer_stats:nope", "other:x"]
        )
    with pytest.raises(InvalidInput) as caught:
        stack.offline.get_training_set(stack.tenant, entity_df().drop(columns="amount"), "fraud")
    assert caught.value.field == "amount"
    with pytest.raises(InvalidInput) as caught:
        stack.offline.get_training_set(stack.tenant, entity_df(), "fraud", timestamp_column="at")
    assert caught.value.field == "at"


def test_missing_source_file_and_changed_schema(stack: Stack) -> None:
    (stack.root / "customer_stats.parquet").unlink()
    with pytest.raises(InvalidInput) as caught:
        stack.offline.get_training_set(stack.tenant, entity_df(), ["customer_stats:txn_count"])
    assert caught.value.field == "source.path" and "customer_stats.parquet" in caught.value.message

    changed = pa.table(
        {"customer_id": ["1"], "ts": [ts(0)], "avg_amount": [1.0], "txn_count": ["many"]}
    )
    pq.write_table(changed, stack.root / "customer_stats.parquet")
    with pytest.raises(InvalidInput) as caught:
        stack.offline.get_training_set(stack.tenant, entity_df(), ["customer_stats:txn_count"])
    message = caught.value.message
    assert "column 'txn_count' is VARCHAR but the feature is declared int64" in message
    assert "column 'customer_id' is VARCHAR but the join key is declared int64" in message


def test_source_paths_stay_inside_the_tenant_root(stack: Stack) -> None:
    for path in ("../other/data.parquet", "/etc/passwd"):
        view = FeatureView("escape", [customer], [Feature("n", int)], ParquetSource(path))
        stack.registry.apply(stack.tenant, "alice", [*REPO, view])
        with pytest.raises(InvalidInput) as caught:
            stack.offline.get_training_set(stack.tenant, entity_df(), ["escape:n"])
        assert caught.value.field == "source.path"


def test_on_demand_code_must_match_what_was_applied(stack: Stack) -> None:
    @on_demand(
        inputs=["customer_stats:avg_amount"],
        request={"amount": float},
        features=[Feature("amount_ratio", float)],
    )
    def amount_ratio(row: dict) -> dict:
        return {"amount_ratio": 1.0}

    changed = OfflineStore(
        f"file://{stack.root.parent}", stack.offline.db, stack.registry, [amount_ratio]
    )
    with pytest.raises(Conflict, match="differs from the applied code"):
        changed.get_training_set(stack.tenant, entity_df(), "fraud")
    unloaded = OfflineStore(f"file://{stack.root.parent}", stack.offline.db, stack.registry)
    with pytest.raises(InvalidInput, match="not loaded in this process"):
        unloaded.get_training_set(stack.tenant, entity_df(), "fraud")
