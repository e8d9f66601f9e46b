"""A small fraud feature repo and its data, for the feature store tests (importable by name
as a ``feature_repo`` setting: it holds an on-demand transform)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa

from ailayer.db.engine import Database
from ailayer.db.migrate import upgrade
from ailayer.features import (
    Entity,
    Feature,
    FeatureService,
    FeatureView,
    ParquetSource,
    on_demand,
)
from ailayer.features.files import Folder
from ailayer.features.files.local import LocalFiles
from ailayer.governance.keys import KeyService

T0 = datetime(2025, 3, 1, tzinfo=UTC)

customer = Entity("customer", {"customer_id": int})
merchant = Entity("merchant", {"merchant_id": str})

customer_stats = FeatureView(
    "customer_stats",
    entities=[customer],
    features=[Feature("avg_amount", float, default=0.0), Feature("txn_count", int)],
    source=ParquetSource("customer_stats.parquet", timestamp_field="ts"),
    ttl=timedelta(days=1),
    owner="risk",
)

merchant_risk = FeatureView(
    "merchant_risk",
    entities=[merchant],
    features=[Feature("risk", float)],
    source=ParquetSource("merchant_risk", timestamp_field="ts"),
)


@on_demand(
    inputs=["customer_stats:avg_amount"],
    request={"amount": float},
    features=[Feature("amount_ratio", float)],
)
def amount_ratio(row: dict) -> dict:
    avg = row["avg_amount"]
    return {"amount_ratio": row["amount"] / avg if avg else None}


fraud = FeatureService(
    "fraud",
    ["customer_stats:avg_amount", "customer_stats:txn_count", "merchant_risk:risk", amount_ratio],
)

REPO = [customer, merchant, customer_stats, merchant_risk, amount_ratio, fraud]


def ts(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def as_folder(root: Folder | Path) -> Folder:
    return root if isinstance(root, Folder) else LocalFiles.folder(str(root))


def write_customer_stats(root: Folder | Path, rows: list[tuple[int, float, float, int]]) -> None:
    """rows: (customer_id, hours after T0, avg_amount, txn_count)."""
    table = pa.table(
        {
            "customer_id": pa.array([r[0] for r in rows], pa.int64()),
            "ts": pa.array([ts(r[1]) for r in rows], pa.timestamp("us", tz="UTC")),
            "avg_amount": pa.array([r[2] for r in rows], pa.float64()),
            "txn_count": pa.array([r[3] for r in rows], pa.int64()),
        }
    )
    as_folder(root).write_parquet("customer_stats.parquet", table)


def write_merchant_risk(root: Folder | Path, rows: list[tuple[str, float, float]]) -> None:
    table = pa.table(
        {
            "merchant_id": pa.array([r[0] for r in rows], pa.string()),
            "ts": pa.array([ts(r[1]) for r in rows], pa.timestamp("us", tz="UTC")),
            "risk": pa.array([r[2] for r in rows], pa.float64()),
        }
    )
    as_folder(root).child("merchant_risk").write_parquet("part-0.parquet", table)


CUSTOMER_ROWS = [(1, 0, 10.0, 1), (1, 5, 20.0, 2), (2, 1, 50.0, 7), (3, -48, 99.0, 9)]
MERCHANT_ROWS = [("m1", 0, 0.1), ("m1", 10, 0.9), ("m2", 2, 0.5)]


def entity_df() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": [1, 1, 2, 3, 4],
            "merchant_id": ["m1", "m1", "m2", "m1", "m9"],
            "event_timestamp": [ts(1), ts(5), ts(30), ts(10), ts(1)],
            "amount": [5.0, 40.0, 100.0, 1.0, 2.0],
            "label": [0, 1, 0, 0, 1],
        }
    )


def write_data(root: Folder | Path) -> None:
    write_customer_stats(root, CUSTOMER_ROWS)
    write_merchant_risk(root, MERCHANT_ROWS)


def database(url: str) -> tuple[Database, str]:
    """A migrated metadata database and a new tenant in it."""
    db = Database(url)
    upgrade(db)
    return db, KeyService(db).create_tenant("acme")
