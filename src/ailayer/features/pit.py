"""Point-in-time joins in DuckDB: one ASOF LEFT JOIN per view, no Python loop.

For every entity row and every view, the value is the view's row with the same join keys
whose event time is the latest at or before the entity row's time (never later), and
only if that time is within the view's TTL (age ≤ ttl); otherwise NULL. Every entity row
comes back, in the order given. Rows of a source with equal keys and event time are
resolved deterministically: the later created time, then the later file, then the later
row in the file wins.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ailayer.core.errors import InvalidInput
from ailayer.features.sources import quote

ROW_ID = "__row_id"
EVENT_TS = "__event_ts"


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


def dedupe_sql(view: ViewQuery) -> str:
    keys = ", ".join(quote(k) for k in view.join_keys)
    return (
        f"SELECT * FROM ({view.sql}) QUALIFY row_number() OVER (PARTITION BY {keys}, __ts "
        "ORDER BY __created DESC NULLS LAST, __file DESC, __row DESC) = 1"
    )


def join_sql(views: list[ViewQuery]) -> str:
    ctes = [f"s{i} AS ({dedupe_sql(v)})" for i, v in enumerate(views)]
    selected, joins = ["e.*"], []
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
        f"WITH {', '.join(ctes)} SELECT {', '.join(selected)} FROM entities e "
        f"{' '.join(joins)} ORDER BY e.{ROW_ID}"
    )


def point_in_time_join(
    con: duckdb.DuckDBPyConnection, entities: pa.Table, views: list[ViewQuery]
) -> pa.Table:
    """``entities`` comes from ``prepare_entities``; the result keeps its columns plus each
    view's ``columns``, one row per entity row, in order."""
    con.register("entities", entities)
    try:
        return con.sql(join_sql(views)).to_arrow_table()
    finally:
        con.unregister("entities")
