"""The Spark engine against DuckDB, row by row: point-in-time training sets (ties at
equal times, the TTL boundary, entities with no value, late rows in a later file),
created-time tie-breaks and materialization's latest rows. One local Spark session
(the ``spark`` fixture) serves every Spark test of a run."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pandas as pd
import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ailayer.features import (
    Entity,
    Feature,
    FeatureRegistry,
    FeatureView,
    Materializer,
    OfflineStore,
    ParquetSource,
    PostgresSource,
    Progress,
    open_online_store,
)
from ailayer.features.engines import ViewJoin
from ailayer.features.engines.duckdb import DuckDBEngine
from ailayer.features.files import connect
from ailayer.features.files.local import LocalFiles
from ailayer.features.pit import prepare_entities
from ailayer.features.sources import SourceReader
from ailayer.features.stores.online import entity_key
from tests.support.feature_repo import (
    REPO,
    database,
    entity_df,
    ts,
    write_data,
    write_merchant_risk,
)
from tests.support.pit_cases import BASE, reference, write_files
from tests.support.services import scratch_postgres_database

pytest.importorskip("pyspark")

from ailayer.features.engines.spark import SparkEngine

pytestmark = pytest.mark.integration

customer = Entity("customer", {"k": int})
merchant = Entity("merchant", {"m": str})


def view(name: str, ent: Entity, ttl: int | None) -> FeatureView:
    source = ParquetSource(name, timestamp_field="ts")
    ttl_delta = None if ttl is None else timedelta(minutes=ttl)
    return FeatureView(name, [ent], [Feature("value", int)], source, ttl=ttl_delta)


def random_case(seed: int) -> tuple[list, tuple, tuple, int | None, int | None]:
    """Small integer minutes make equal times, duplicates and TTL edges common; keys
    that no source row has and null keys give entities with no value."""
    rng = random.Random(seed)

    def rows(keys: list, step: int, count: int) -> list:
        out = []
        for _ in range(count):
            minute = rng.randint(0, 30)
            value = rng.choice([None, *range(-50, 50)])
            out.append((rng.choice(keys), minute - minute % step, value))
        return out

    entity = [
        (rng.choice([None, -2, -1, 0, 1, 2, 3, 4]), rng.choice(["a", "b", "z"]), rng.randint(0, 30))
        for _ in range(60)
    ]
    customers = (rows([-2, -1, 0, 1, 2, 3], 1, 50), rows([-2, -1, 0, 1, 2, 3], 1, 20))
    merchants = (rows(["a", "b"], 5, 20), rows(["a", "b"], 5, 10))
    return entity, customers, merchants, rng.choice([None, 1, 3, 10]), rng.choice([None, 3])


def join_with(engine, root: Path, entity: list, ttls: tuple) -> pa.Table:  # type: ignore[no-untyped-def]
    table = pa.table(
        {
            "k": pa.array([e[0] for e in entity], pa.int32()),
            "m": pa.array([e[1] for e in entity], pa.large_string()),
            "event_timestamp": pa.array(
                [BASE + timedelta(minutes=e[2]) for e in entity], pa.timestamp("us", tz="UTC")
            ),
            "label": pa.array(range(len(entity))),
        }
    )
    entities = prepare_entities(table, "event_timestamp", {"k": "int64", "m": "string"})
    times = [BASE + timedelta(minutes=e[2]) for e in entity]
    parts = []
    for name, ent, ttl in (("customers", customer, ttls[0]), ("merchants", merchant, ttls[1])):
        v = view(name, ent, ttl)
        since = None if v.ttl is None else min(times) - v.ttl
        ttl_us = None if v.ttl is None else v.ttl // timedelta(microseconds=1)
        parts.append(ViewJoin(name, v, ("value",), since, max(times), ttl_us))
    con = connect()
    try:
        return engine.join(con, SourceReader(LocalFiles.folder(str(root))), entities, parts)
    finally:
        con.close()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_engines_agree_row_by_row_with_the_reference(
    spark: SparkEngine, tmp_path: Path, seed: int
) -> None:
    entity, customers, merchants, ttl_customer, ttl_merchant = random_case(seed)
    write_files(tmp_path, "customers", "k", customers)
    write_files(tmp_path, "merchants", "m", merchants)
    ttls = (ttl_customer, ttl_merchant)

    duck = join_with(DuckDBEngine(), tmp_path, entity, ttls)
    on_spark = join_with(spark, tmp_path, entity, ttls)

    assert on_spark.equals(duck)  # every row, in order, same types
    expected = reference(entity, 0, customers, ttl_customer)
    assert on_spark.column("customers__value").to_pylist() == expected
    assert on_spark.column("merchants__value").to_pylist() == reference(
        entity, 1, merchants, ttl_merchant
    )
    assert None in expected and any(v is not None for v in expected)  # both kinds of row


@pytest.fixture
def stacks(tmp_path: Path, spark: SparkEngine) -> Iterator[tuple[OfflineStore, OfflineStore, str]]:
    db, tenant = database(f"sqlite:///{tmp_path / 'meta.db'}")
    registry = FeatureRegistry(db)
    registry.apply(tenant, "alice", REPO)
    write_data(tmp_path / "offline" / tenant)
    url = f"file://{tmp_path / 'offline'}"
    yield (
        OfflineStore(url, db, registry, REPO),
        OfflineStore(url, db, registry, REPO, engine=spark),
        tenant,
    )
    db.dispose()


def test_training_sets_agree_at_the_ttl_boundary(stacks) -> None:  # type: ignore[no-untyped-def]
    """customer_stats has a one-day TTL: a row exactly one day old is a value, one a
    microsecond older is not (the default fills in); on-demand views run the same."""
    duck, on_spark, tenant = stacks
    frame = entity_df()
    edge = pd.DataFrame(
        {
            "customer_id": [1, 1, 2, 9],
            "merchant_id": ["m1", "m2", "m9", "m1"],
            "event_timestamp": [
                ts(5) + timedelta(days=1),
                ts(5) + timedelta(days=1, microseconds=1),
                ts(1),  # equal to the source row's time: it counts
                ts(3),  # a customer with no rows at all
            ],
            "amount": [1.0, 2.0, 3.0, 4.0],
            "label": [1, 0, 1, 0],
        }
    )
    frame = pd.concat([frame, edge], ignore_index=True)
    left, left_version = duck.get_training_set(tenant, frame, "fraud", keep=False)
    right, right_version = on_spark.get_training_set(tenant, frame, "fraud", keep=False)

    pd.testing.assert_frame_equal(left, right)
    assert left_version.content_sha256 == right_version.content_sha256
    assert list(right["avg_amount"])[-4:] == [20.0, 0.0, 50.0, 0.0]
    assert right["txn_count"].isna().tolist()[-4:] == [False, True, False, True]


def write_created(root: Path) -> FeatureView:
    """Rows of one key at one time told apart by their created time (null loses)."""
    table = pa.table(
        {
            "k": pa.array([1, 1, 1, 2, 2], pa.int64()),
            "ts": pa.array([BASE] * 5, pa.timestamp("us", tz="UTC")),
            "created": pa.array(
                [
                    BASE + timedelta(seconds=s) if s is not None else None
                    for s in (5, 9, None, None, 1)
                ],
                pa.timestamp("us", tz="UTC"),
            ),
            "value": pa.array([10, 11, 12, 20, 21], pa.int64()),
        }
    )
    (root / "created").mkdir()
    pq.write_table(table, root / "created" / "part-0.parquet")
    source = ParquetSource("created", timestamp_field="ts", created_timestamp_field="created")
    return FeatureView("created", [customer], [Feature("value", int)], source)


def test_created_time_breaks_ties_alike(spark: SparkEngine, tmp_path: Path) -> None:
    v = write_created(tmp_path)
    table = pa.table(
        {"k": pa.array([1, 2, 3], pa.int64()), "event_timestamp": pa.array([BASE] * 3)}
    )
    entities = prepare_entities(table, "event_timestamp", {"k": "int64"})
    part = ViewJoin("created", v, ("value",), None, BASE, None)
    reader = SourceReader(LocalFiles.folder(str(tmp_path)))
    con = connect()
    try:
        duck = DuckDBEngine().join(con, reader, entities, [part])
        on_spark = spark.join(con, reader, entities, [part])
    finally:
        con.close()
    assert on_spark.equals(duck)
    assert on_spark.column("created__value").to_pylist() == [11, 21, None]


def test_latest_rows_for_materialization_agree(spark: SparkEngine, tmp_path: Path) -> None:
    _entity, customers, _merchants, _t1, _t2 = random_case(7)
    write_files(tmp_path, "customers", "k", customers)
    v = view("customers", customer, None)
    reader = SourceReader(LocalFiles.folder(str(tmp_path)))
    start, end = BASE + timedelta(minutes=3), BASE + timedelta(minutes=25)
    con = connect()
    try:
        tables = []
        for engine in (DuckDBEngine(), spark):
            relation = engine.latest(con, reader, v, start, end)
            tables.append(
                con.sql(f"SELECT k, __ts, value FROM ({relation}) ORDER BY k").to_arrow_table()
            )
    finally:
        con.close()
    assert tables[1].equals(tables[0])
    assert tables[0].num_rows > 2


class Stop(Exception):
    pass


def stop_after(batches: int):  # type: ignore[no-untyped-def]
    seen: list[Progress] = []

    def report(progress: Progress) -> None:
        seen.append(progress)
        if len(seen) == batches:
            raise Stop

    return report


def test_materialize_on_spark_resumes_and_matches_duckdb(
    spark: SparkEngine, tmp_path: Path
) -> None:
    """A Spark run that stops after two batches resumes after its cursor; the online
    values equal a DuckDB run's."""
    db, tenant = database(f"sqlite:///{tmp_path / 'meta.db'}")
    registry = FeatureRegistry(db)
    registry.apply(tenant, "alice", REPO)
    rng = random.Random(5)
    rows = [(f"m{i:03d}", rng.randint(0, 10), rng.random()) for i in range(30) for _ in range(3)]
    merchants = sorted({r[0] for r in rows})
    values = {}
    for name, engine in (("duckdb", None), ("spark", spark)):
        offline = OfflineStore(f"file://{tmp_path / name}", db, registry, REPO, engine=engine)
        write_merchant_risk(offline.tenant_root(tenant), rows)
        online = open_online_store(f"sqlite:///{tmp_path / name}-online.db")
        runner = Materializer(db, registry, offline, online, batch_size=7, clock=lambda: ts(12))
        if name == "spark":
            with pytest.raises(Stop):
                runner.materialize(
                    tenant, ["merchant_risk"], ts(-1), ts(10), progress=stop_after(2)
                )
        runs = runner.materialize(tenant, ["merchant_risk"], ts(-1), ts(10))
        assert runs[0].rows == 30 and runs[0].resumed == (name == "spark")
        found = online.read_batch(
            tenant, "merchant_risk@1", [entity_key([m]) for m in merchants], ["risk"]
        )
        values[name] = [(f.values["risk"], f.event_us) for f in found]
        online.close()
    assert values["spark"] == values["duckdb"]
    db.dispose()


def test_a_postgres_source_joins_alike(
    spark: SparkEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A PostgreSQL source is read by the driver and joined on Spark: the same rows."""
    orders = FeatureView(
        "orders",
        [Entity("customer", {"customer_id": int})],
        [Feature("total", float), Feature("channel", str)],
        PostgresSource("env:AILAYER_TEST_ORDERS_URL", "public.order_stats", timestamp_field="at"),
    )
    with scratch_postgres_database() as url:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(
                "CREATE TABLE order_stats (customer_id bigint, at timestamptz, total numeric(10,2), channel text)"
            )
            rows = [(1, ts(0), 10.5, "web"), (1, ts(2), 20, "app"), (1, ts(2), 21, "ios")]
            rows += [(2, ts(1), 7, "web"), (3, ts(4), 1, None)]
            conn.cursor().executemany("INSERT INTO order_stats VALUES (%s, %s, %s, %s)", rows)
        monkeypatch.setenv("AILAYER_TEST_ORDERS_URL", url)
        db, tenant = database(f"sqlite:///{tmp_path / 'meta.db'}")
        registry = FeatureRegistry(db)
        registry.apply(tenant, "alice", [orders])
        entities = pd.DataFrame(
            {"customer_id": [1, 1, 2, 3, 4], "event_timestamp": [ts(1), ts(3), ts(0), ts(4), ts(9)]}
        )
        frames = []
        for engine in (None, spark):
            offline = OfflineStore(f"file://{tmp_path / 'offline'}", db, registry, engine=engine)
            frame, _ = offline.get_training_set(
                tenant, entities, ["orders:total", "orders:channel"], keep=False
            )
            frames.append(frame)
        db.dispose()
    pd.testing.assert_frame_equal(frames[0], frames[1])
    assert list(frames[1]["channel"].fillna("-")) == ["web", "ios", "-", "-", "-"]
