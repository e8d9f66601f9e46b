"""Point-in-time joins in DuckDB: one ASOF LEFT JOIN per view, no Python loop.

For every entity row and every view, the value is the view's row with the same join keys
whose event time is the latest at or before the entity row's time (never later), and
only if that time is within the view's TTL (age ≤ ttl); otherwise NULL. Every entity row
comes back, in the order given. Rows of a source with equal keys and event time are
resolved deterministically: the later created time, then the later file, then the later
row in the file wins.

What makes it fast: only the row id, the event time and the join keys of the entity
table go into DuckDB (labels and other columns stay in Arrow, untouched); the tie-break
window runs only when a cheap ``GROUP BY`` finds equal (keys, event time) pairs in the
source; DuckDB returns rows in any order (``preserve_insertion_order = false``) and the
entity order is restored afterwards with one Arrow ``take`` by row id instead of an
``ORDER BY`` over the whole result.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ailayer.core.errors import InvalidInput
from ailayer.features.sources import quote

ROW_ID = "__row_id"
EVENT_TS = "__event_ts"
ENTITIES = "__pit_entities"
TAKE_THREADS = min(4, os.cpu_count() or 1)


@dataclass(frozen=True)
class ViewQuery:
    """One view's part of a join: its normalised source query and what to take from it."""

    name: str
    sql: str
    join_keys: tuple[str, ...]
    features: tuple[str, ...]
    columns: tuple[str, ...]
    ttl_us: int | None


def prepare_entities(data: pa.Table, timestamp_column: str, join_keys: dict[str, str]) -> pa.Table:
    """Check the entity table and add a row id and a naive-UTC event time for DuckDB."""
    names = set(data.column_names)
    if timestamp_column not in names:
        raise InvalidInput(
            f"entity_df has no timestamp column {timestamp_column!r}", field=timestamp_column
        )
    for key, dtype in join_keys.items():
        _check_key(data, key, dtype)
    ts = data.column(timestamp_column)
    if pa.types.is_date(ts.type):
        ts = ts.cast(pa.timestamp("us"))
    if not pa.types.is_timestamp(ts.type):
        raise InvalidInput(
            f"entity_df column {timestamp_column!r} must hold timestamps; got {ts.type}",
            field=timestamp_column,
        )
    if ts.type.tz is not None:
        ts = pc.cast(ts, pa.timestamp(ts.type.unit, tz="UTC"))
    naive = ts.cast(pa.timestamp(ts.type.unit)).cast(pa.timestamp("us"), safe=False)
    rows = pa.array(np.arange(data.num_rows, dtype=np.int64))
    return data.append_column(ROW_ID, rows).append_column(EVENT_TS, naive)


def _check_key(data: pa.Table, key: str, dtype: str) -> None:
    if key not in data.column_names:
        raise InvalidInput(f"entity_df has no join key column {key!r} ({dtype})", field=key)
    arrow_type = data.schema.field(key).type
    ok = (
        pa.types.is_integer(arrow_type)
        if dtype == "int64"
        else (
            pa.types.is_string(arrow_type)
            or pa.types.is_large_string(arrow_type)
            or pa.types.is_string_view(arrow_type)
        )
    )
    if not ok and not pa.types.is_null(arrow_type):
        raise InvalidInput(
            f"entity_df join key {key!r} must be {dtype}; got {arrow_type}", field=key
        )


def has_ties(con: duckdb.DuckDBPyConnection, view: ViewQuery) -> bool:
    """Whether the source has two rows with equal join keys and event time.

    A hash aggregate over the keys and the time only (the scan reads just those columns):
    cheaper than the tie-breaking window it lets us skip (which sorts every column of
    every row), and far cheaper at 10M rows."""
    keys = ", ".join(quote(k) for k in view.join_keys)
    found = con.sql(
        f"SELECT 1 FROM ({view.sql}) GROUP BY {keys}, __ts HAVING count(*) > 1 LIMIT 1"
    ).fetchall()
    return bool(found)


def dedupe_sql(view: ViewQuery) -> str:
    """The source with one row per (keys, event time): the tie-break winner."""
    keys = ", ".join(quote(k) for k in view.join_keys)
    return (
        f"SELECT * FROM ({view.sql}) QUALIFY row_number() OVER (PARTITION BY {keys}, __ts "
        "ORDER BY __created DESC NULLS LAST, __file DESC, __row DESC) = 1"
    )


def plain_sql(view: ViewQuery) -> str:
    """The source's join keys, event time and features only (no tie-break columns)."""
    columns = [*view.join_keys, "__ts", *view.features]
    return f"SELECT {', '.join(quote(c) for c in columns)} FROM ({view.sql})"


def join_sql(views: list[ViewQuery], deduped: list[bool]) -> str:
    """Row id plus every view's columns, in no particular order."""
    ctes = [
        f"s{i} AS ({dedupe_sql(v) if dedupe else plain_sql(v)})"
        for i, (v, dedupe) in enumerate(zip(views, deduped, strict=True))
    ]
    selected, joins = [f"e.{ROW_ID}"], []
    for i, view in enumerate(views):
        on = [f"e.{quote(k)} = s{i}.{quote(k)}" for k in view.join_keys]
        on.append(f"e.{EVENT_TS} >= s{i}.__ts")
        joins.append(f"ASOF LEFT JOIN s{i} ON {' AND '.join(on)}")
        for feature, column in zip(view.features, view.columns, strict=True):
            value = f"s{i}.{quote(feature)}"
            if view.ttl_us is not None:
                fresh = f"s{i}.__ts >= e.{EVENT_TS} - to_microseconds({view.ttl_us})"
                value = f"CASE WHEN {fresh} THEN {value} END"
            selected.append(f"{value} AS {quote(column)}")
    return (
        f"WITH {', '.join(ctes)} SELECT {', '.join(selected)} FROM {ENTITIES} e {' '.join(joins)}"
    )


def point_in_time_join(
    con: duckdb.DuckDBPyConnection, entities: pa.Table, views: list[ViewQuery]
) -> pa.Table:
    """``entities`` comes from ``prepare_entities``; the result keeps its columns plus each
    view's ``columns``, one row per entity row, in order."""
    return attach(entities, unordered_join(con, entities, views), views)


def unordered_join(
    con: duckdb.DuckDBPyConnection, entities: pa.Table, views: list[ViewQuery]
) -> pa.Table:
    """The row id and every view's ``columns`` per entity row, in no particular order.

    Apart from ``attach`` so that a caller can close ``con`` in between: DuckDB keeps the
    join's working memory until then, and the reorder needs a second copy of the columns.
    """
    keys = list(dict.fromkeys(k for view in views for k in view.join_keys))
    probe = entities.select([ROW_ID, EVENT_TS, *keys])  # zero-copy; labels stay out
    deduped = [has_ties(con, view) for view in views]
    con.execute("SET preserve_insertion_order = false")
    con.register(ENTITIES, probe)
    try:
        return con.sql(join_sql(views, deduped)).to_arrow_reader().read_all()
    finally:
        con.unregister(ENTITIES)
        con.execute("RESET preserve_insertion_order")


def attach(entities: pa.Table, found: pa.Table, views: list[ViewQuery]) -> pa.Table:
    """``entities`` plus ``found``'s view columns, row ``i`` with row id ``i``."""
    columns = [c for view in views for c in view.columns]
    row_ids = found.column(ROW_ID).to_numpy()
    pending = {name: found.column(name) for name in columns}
    del found  # each column is freed as soon as its reordered copy exists
    if row_ids.size and not np.all(row_ids[1:] > row_ids[:-1]):
        position = np.empty(row_ids.size, dtype=np.int64)
        position[row_ids] = np.arange(row_ids.size, dtype=np.int64)
        indices = pa.array(position)

        def reorder(name: str) -> pa.ChunkedArray:
            return pc.take(pending.pop(name), indices)

        # a gather is bound by memory latency, and Arrow's take releases the GIL
        with ThreadPoolExecutor(max_workers=TAKE_THREADS) as pool:
            ordered = dict(zip(columns, pool.map(reorder, columns), strict=True))
    else:
        ordered = pending
    for name in columns:
        entities = entities.append_column(name, ordered[name])
    return entities
