"""Point-in-time joins against a brute-force Python reference, on randomized data.

Small integer minutes make equal timestamps, duplicates and TTL edges common; rows are
split over two Parquet files so some arrive "late" (an older event time in a later file).
"""

from __future__ import annotations

import tempfile
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ailayer.features import Entity, Feature, FeatureView, ParquetSource
from ailayer.features.files import connect
from ailayer.features.files.local import LocalFiles
from ailayer.features.pit import (
    ENTITIES,
    ViewQuery,
    point_in_time_join,
    prepare_entities,
    view_columns,
)
from ailayer.features.sources import SourceReader
from tests.support.pit_cases import BASE, reference, write_files

customer = Entity("customer", {"k": int})
merchant = Entity("merchant", {"m": str})

minutes = st.integers(min_value=0, max_value=30)
ttls = st.sampled_from([None, 1, 3, 10])
maybe_value = st.one_of(st.none(), st.integers(-1000, 1000))


def source_rows(keys: st.SearchStrategy, step: int) -> st.SearchStrategy:
    row = st.tuples(keys, minutes.map(lambda m: m - m % step), maybe_value)
    return st.tuples(st.lists(row, max_size=25), st.lists(row, max_size=10))


def view_query(con, reader: SourceReader, view: FeatureView, times=()) -> ViewQuery:  # type: ignore[no-untyped-def]
    """The view's query as the offline store makes it: the source read within the entity
    rows' time range (less the TTL), and without those bounds for the held path."""
    ttl_us = None if view.ttl is None else view.ttl // timedelta(microseconds=1)
    since = until = None
    if times:
        until = max(times)
        since = None if view.ttl is None else min(times) - view.ttl
    sql, unbounded = reader.source_sqls(con, view, since, until)
    return ViewQuery(
        view.name,
        sql,
        tuple(view.join_keys),
        ("value",),
        (f"{view.name}__value",),
        ttl_us,
        unbounded,
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    entity=st.lists(
        st.tuples(
            st.one_of(st.none(), st.integers(-2, 4)), st.sampled_from(["a", "b", "z"]), minutes
        ),
        min_size=1,
        max_size=20,
    ),
    by_customer=source_rows(st.integers(-2, 3), step=1),
    by_merchant=source_rows(st.sampled_from(["a", "b"]), step=5),
    ttl_customer=ttls,
    ttl_merchant=ttls,
    path=st.sampled_from(["streamed", "held", "held in partitions"]),
    key_types=st.sampled_from([(pa.int64(), pa.string()), (pa.int32(), pa.large_string())]),
)
def test_join_matches_brute_force(
    entity, by_customer, by_merchant, ttl_customer, ttl_merchant, path, key_types
) -> None:  # type: ignore[no-untyped-def]
    """Every way of joining a source (held in memory, in one piece or in partitions by
    key; streamed) against brute force, with entity keys of other widths than the
    source's."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_files(root, "customers", "k", by_customer)
        write_files(root, "merchants", "m", by_merchant)
        views = [
            FeatureView(
                name,
                [ent],
                [Feature("value", int)],
                ParquetSource(name, timestamp_field="ts"),
                ttl=None if ttl is None else timedelta(minutes=ttl),
            )
            for name, ent, ttl in (
                ("customers", customer, ttl_customer),
                ("merchants", merchant, ttl_merchant),
            )
        ]
        table = pa.table(
            {
                "k": pa.array([e[0] for e in entity], key_types[0]),
                "m": pa.array([e[1] for e in entity], key_types[1]),
                "event_timestamp": pa.array(
                    [BASE + timedelta(minutes=e[2]) for e in entity], pa.timestamp("us", tz="UTC")
                ),
                "label": pa.array(range(len(entity))),
            }
        )
        con = connect()
        reader = SourceReader(LocalFiles.folder(str(root)))
        prepared = prepare_entities(table, "event_timestamp", {"k": "int64", "m": "string"})
        times = [BASE + timedelta(minutes=e[2]) for e in entity]
        queries = [view_query(con, reader, v, times) for v in views]
        limits = {
            "streamed": {"memory_cells": 0},
            "held": {"memory_cells": 10**9, "partition_rows": 10**9},
            "held in partitions": {"memory_cells": 10**9, "partition_rows": 2},
        }[path]
        result = point_in_time_join(con, prepared, queries, **limits)
        con.close()

    assert result.column("label").to_pylist() == list(range(len(entity)))
    assert result.column("customers__value").to_pylist() == reference(
        entity, 0, by_customer, ttl_customer
    )
    assert result.column("merchants__value").to_pylist() == reference(
        entity, 1, by_merchant, ttl_merchant
    )


def fast_path_taken(
    root: Path, name: str, entity: list[tuple[int, int]], memory_cells: int
) -> bool:
    """Whether the join of ``entity`` (customer, minute) rows against source ``name``
    needs no tie-break (``view_columns`` answers instead of returning None)."""
    table = pa.table(
        {
            "k": pa.array([e[0] for e in entity], pa.int64()),
            "event_timestamp": pa.array(
                [BASE + timedelta(minutes=e[1]) for e in entity], pa.timestamp("us", tz="UTC")
            ),
        }
    )
    prepared = prepare_entities(table, "event_timestamp", {"k": "int64"})
    view = FeatureView(name, [customer], [Feature("value", int)], ParquetSource(name, "ts"))
    con = connect()
    try:
        con.register(ENTITIES, prepared)
        query = view_query(con, SourceReader(LocalFiles.folder(str(root))), view)
        return view_columns(con, query, len(entity), memory_cells=memory_cells) is not None
    finally:
        con.close()


@pytest.mark.parametrize("memory_cells", [0, 10**9], ids=["streamed", "held"])
def test_tie_check_looks_at_matched_pairs_only(memory_cells: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        # customer 1 twice at minute 5 (across the two files); customer 2 at 5 and 6
        write_files(root, "ties", "k", ([(1, 5, 10), (2, 5, 20)], [(1, 5, 11), (2, 6, 21)]))
        write_files(root, "clean", "k", ([(1, 5, 10), (2, 5, 20)], [(1, 6, 11)]))
        cases = {
            ("ties", ((1, 7),)): False,  # matches the tied pair (1, minute 5)
            ("ties", ((2, 7), (1, 3))): True,  # (2, 6) is unique; (1, 3) matches nothing
            ("ties", ((2, 7), (1, 5))): False,
            ("clean", ((1, 7), (1, 5), (2, 9), (3, 9))): True,
        }
        found = {
            (name, entity): fast_path_taken(root, name, list(entity), memory_cells)
            for name, entity in cases
        }
    assert found == cases


def test_a_partitioned_join_finds_keys_given_in_a_narrower_type() -> None:
    """DuckDB hashes -2 as INTEGER and as BIGINT differently: entity keys are widened to
    the source's type before the join is split by key hash."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_files(root, "customers", "k", ([(-2, 5, 7), (-1, 5, 8), (3, 5, 9)], []))
        view = FeatureView(
            "customers", [customer], [Feature("value", int)], ParquetSource("customers", "ts")
        )
        table = pa.table(
            {
                "k": pa.array([-2, -1, 3], pa.int32()),
                "event_timestamp": pa.array(
                    [BASE + timedelta(minutes=10)] * 3, pa.timestamp("us", tz="UTC")
                ),
            }
        )
        con = connect()
        try:
            query = view_query(con, SourceReader(LocalFiles.folder(str(root))), view)
            prepared = prepare_entities(table, "event_timestamp", {"k": "int64"})
            result = point_in_time_join(
                con, prepared, [query], memory_cells=10**9, partition_rows=1
            )
        finally:
            con.close()
    assert result.column("customers__value").to_pylist() == [7, 8, 9]
    assert result.column("k").type == pa.int32()  # the caller's column is returned as given
