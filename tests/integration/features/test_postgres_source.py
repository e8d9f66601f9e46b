"""A feature view over a real PostgreSQL table: training set, materialization, schema drift."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import psycopg
import pytest

from ailayer.core.errors import InvalidInput
from ailayer.features import (
    Feature,
    FeatureRegistry,
    FeatureView,
    Materializer,
    OfflineStore,
    PostgresSource,
    open_online_store,
)
from ailayer.features.stores import entity_key
from tests.support.feature_repo import customer, database, ts
from tests.support.services import scratch_postgres_database

pytestmark = pytest.mark.integration

orders = FeatureView(
    "orders",
    [customer],
    [Feature("total", float), Feature("channel", str)],
    PostgresSource("env:AILAYER_TEST_ORDERS_URL", "public.order_stats", timestamp_field="at"),
)


def test_postgres_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with scratch_postgres_database() as url:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(
                "CREATE TABLE order_stats (customer_id bigint, at timestamptz, total numeric(10,2), channel text)"
            )
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO order_stats VALUES (%s, %s, %s, %s)",
                    [(1, ts(0), 10.5, "web"), (1, ts(2), 20, "app"), (2, ts(1), 7, "web")],
                )
        monkeypatch.setenv("AILAYER_TEST_ORDERS_URL", url)
        db, tenant = database(f"sqlite:///{tmp_path / 'meta.db'}")
        registry = FeatureRegistry(db)
        registry.apply(tenant, "alice", [orders])
        offline = OfflineStore(f"file://{tmp_path / 'offline'}", db, registry)
        entities = pd.DataFrame(
            {"customer_id": [1, 1, 2], "event_timestamp": [ts(1), ts(3), ts(0)]}
        )
        frame, _ = offline.get_training_set(
            tenant, entities, ["orders:total", "orders:channel"], keep=False
        )
        assert list(frame["total"].fillna(-1)) == [10.5, 20.0, -1]
        assert list(frame["channel"].fillna("-")) == ["web", "app", "-"]

        online = open_online_store(f"sqlite:///{tmp_path / 'online.db'}")
        Materializer(db, registry, offline, online).materialize(tenant, ["orders"], ts(-1), ts(5))
        found = online.read_batch(tenant, "orders@1", [entity_key([1]), entity_key([2])], ["total"])
        assert [f.values["total"] for f in found if f] == [20.0, 7.0]
        online.close()

        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("ALTER TABLE order_stats ALTER COLUMN total TYPE text")
        with pytest.raises(
            InvalidInput, match="column 'total' is VARCHAR but the feature is declared float64"
        ):
            offline.get_training_set(tenant, entities, ["orders:total"], keep=False)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("ALTER TABLE order_stats DROP COLUMN channel")
        with pytest.raises(InvalidInput, match='column "channel" does not exist'):
            offline.get_training_set(tenant, entities, ["orders:channel"], keep=False)
        db.dispose()
