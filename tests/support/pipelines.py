"""A feature repo with a training pipeline, its data, and the stack it runs on.

The repo is written as a file (so ``ailayer train`` in another process can load it) whose
trainer obeys marker files beside it: ``train-started`` is written when training starts,
``train-hold`` makes it wait (a test kills the process then), ``train-raise`` makes it
raise.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa

from ailayer.db.engine import Database
from ailayer.db.migrate import upgrade
from ailayer.features import FeatureRegistry, OfflineStore
from ailayer.features.loader import load_definitions
from ailayer.governance.keys import KeyService
from ailayer.models.artifacts import open_artifact_store
from ailayer.models.service import ModelRegistry
from ailayer.pipelines.pipeline import Pipelines
from ailayer.pipelines.runner import PipelineService
from ailayer.pipelines.runs import RunStore
from ailayer.pipelines.steps import Tools
from ailayer.rollout.store import DeploymentService

T0 = datetime(2025, 3, 1, tzinfo=UTC)
CUSTOMERS = 40
LABEL_ROWS = 240

REPO = """
import os
import time
from datetime import timedelta
from pathlib import Path

from ailayer.features import Entity, Feature, FeatureService, FeatureView, ParquetSource
from ailayer.pipelines import Pipeline

customer = Entity("customer", {"customer_id": int})
customer_stats = FeatureView(
    "customer_stats",
    entities=[customer],
    features=[Feature("avg_amount", float, default=0.0), Feature("txn_count", int, default=0)],
    source=ParquetSource("customer_stats.parquet", timestamp_field="ts"),
    ttl=timedelta(days=60),
)
fraud_features = FeatureService(
    "fraud_features", ["customer_stats:avg_amount", "customer_stats:txn_count"]
)

HERE = Path(__file__).parent


def train(X, y, params, seed):
    from sklearn.linear_model import LogisticRegression

    (HERE / "train-started").write_text(str(os.getpid()))
    while (HERE / "train-hold").exists():
        time.sleep(0.05)
    if (HERE / "train-raise").exists():
        raise RuntimeError("the trainer broke")
    model = LogisticRegression(C=params["C"], random_state=seed, max_iter=1000)
    return model.fit(X.fillna(0.0).to_numpy(), y.to_numpy())


fraud = Pipeline(
    "fraud-weekly",
    model="fraud",
    features="fraud_features",
    entities="labels.parquet",
    label="is_fraud",
    trainer=train,
    params={"C": 1.0},
    seed=7,
    compile=False,
)
"""


def write_repo(folder: Path, extra: str = "") -> Path:
    """The definitions file (with ``extra`` code appended) in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "repo.py"
    path.write_text(REPO + extra)
    return path


def customer_stats(days: float = 0.0) -> pa.Table:
    """Each customer's stats at ``days`` after T0 (seeded)."""
    rng = np.random.default_rng(1)
    ids = np.arange(1, CUSTOMERS + 1)
    return pa.table(
        {
            "customer_id": pa.array(ids, pa.int64()),
            "ts": pa.array([T0 + timedelta(days=days)] * CUSTOMERS, pa.timestamp("us", tz="UTC")),
            "avg_amount": pa.array(rng.uniform(1, 500, CUSTOMERS), pa.float64()),
            "txn_count": pa.array(rng.integers(0, 50, CUSTOMERS), pa.int64()),
        }
    )


def labels(rows: int = LABEL_ROWS) -> pa.Table:
    """Entity rows with a label that the stats explain (large averages are fraud)."""
    rng = np.random.default_rng(2)
    stats = customer_stats().to_pydict()
    ids = rng.integers(1, CUSTOMERS + 1, rows)
    average = np.array(stats["avg_amount"])[ids - 1]
    hours = np.sort(rng.uniform(1, 24 * 20, rows))
    return pa.table(
        {
            "customer_id": pa.array(ids, pa.int64()),
            "event_timestamp": pa.array(
                [T0 + timedelta(hours=float(h)) for h in hours], pa.timestamp("us", tz="UTC")
            ),
            "is_fraud": pa.array((average > 250).astype(np.int64), pa.int64()),
        }
    )


def write_data(tenant_root: Path, label_rows: pa.Table | None = None) -> None:
    import pyarrow.parquet as pq

    tenant_root.mkdir(parents=True, exist_ok=True)
    pq.write_table(customer_stats(), tenant_root / "customer_stats.parquet")
    pq.write_table(labels() if label_rows is None else label_rows, tenant_root / "labels.parquet")


@dataclass
class Stack:
    service: PipelineService
    tools: Tools
    db: Database
    tenant: str
    root: Path  # the tenant's offline folder
    repo: Path

    def close(self) -> None:
        self.db.dispose()


def stack(tmp_path: Path, metadata_url: str, extra: str = "") -> Stack:
    """Everything a pipeline runs on, with the repo applied and the data written."""
    repo = write_repo(tmp_path / "repo", extra)
    db = Database(metadata_url)
    upgrade(db)
    tenant = KeyService(db).create_tenant("acme")
    definitions = load_definitions(repo)
    features = FeatureRegistry(db)
    features.apply(tenant, "alice", definitions)
    write_data(tmp_path / "offline" / tenant)
    artifacts = open_artifact_store(f"file://{tmp_path / 'artifacts'}")
    tools = Tools(
        OfflineStore(f"file://{tmp_path / 'offline'}", db, features, definitions),
        ModelRegistry(db, artifacts),
        artifacts,
        RunStore(db),
        DeploymentService(db),
    )
    service = PipelineService(tools, Pipelines(repo))
    return Stack(service, tools, db, tenant, tmp_path / "offline" / tenant, repo)
