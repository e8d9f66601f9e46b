"""Point-in-time joins in DuckDB: one ASOF LEFT JOIN per view, no Python loop.

For every entity row and every view, the value is the view's row with the same join keys
whose event time is the latest at or before the entity row's time (never later), and
only if that time is within the view's TTL (age ≤ ttl); otherwise NULL. Every entity row
comes back, in the order given. Rows of a source with equal keys and event time are
resolved deterministically: the later created time, then the later file, then the later
row in the file wins.

What makes it fast: only the row id, the event time and the join keys of the entity
table go into DuckDB (labels and other columns stay in Arrow, untouched), DuckDB returns
rows in any order (``preserve_insertion_order = false``), and each feature is gathered by
row position straight into entity order with numpy. A view's source is joined one of two
ways, by its size (rows x columns read, against ``memory_cells``):

- *held* (small sources, the fastest): the source's keys and time are read into Arrow
  with a position per row, and the ASOF join (in partitions by a hash of the keys, to
  bound its working memory) carries only that position; then the features are read a
  few columns at a time, in the same order, and gathered by position;
- *streamed* (large sources, memory bounded by the entity table): an ASOF join of the
  entity rows with the source's keys and time alone gives each matched row's source
  time (the TTL applied); then a hash join of those matched rows (at most one per entity
  row, the build side) with the source streamed past them fetches the features.

Either way, the tie-break window runs only when a (keys, event time) pair that the join
actually matched occurs more than once in the source (checked on the matched rows alone);
then that view is re-joined through a ``row_number()`` window (``deduped_join``).
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ailayer.core.errors import Conflict, InvalidInput
from ailayer.features.sources import quote

ROW_ID = "__row_id"
EVENT_TS = "__event_ts"
ENTITIES = "__pit_entities"
MATCHED = "__pit_matched"
SOURCE = "__pit_source"
POSITION = "__pos"
# a source of more values than this is streamed past the matched rows, not held in memory
# (25 M values: ~200 MB of Arrow, ~400 MB at the peak while DuckDB reads it)
MEMORY_CELLS = 25_000_000
# the held path's ASOF join runs in partitions of about this many rows (by a hash of the
# join keys): DuckDB's join holds sorted copies of both sides, ~110 MB at 1M x 1M in one
# piece, ~55 MB in four, and is no slower
PARTITION_ROWS = 250_000
MAX_PARTITIONS = 64
GATHER_THREADS = 2
FEATURES_PER_READ = 2


@dataclass(frozen=True)
class ViewQuery:
    """One view's part of a join: its normalised source query and what to take from it."""

    name: str
    sql: str
    join_keys: tuple[str, ...]
    features: tuple[str, ...]
    columns: tuple[str, ...]
    ttl_us: int | None
    # the source without its time bounds (no filter to evaluate): rows outside them are
    # never an entity row's value, so the held path, which only looks for each entity
    # row's latest row at or before its time, reads this; None: ``sql``
    unbounded_sql: str | None = None

    @property
    def held_sql(self) -> str:
        return self.unbounded_sql or self.sql


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


def point_in_time_join(
    con: duckdb.DuckDBPyConnection,
    entities: pa.Table,
    views: list[ViewQuery],
    *,
    memory_cells: int = MEMORY_CELLS,
    partition_rows: int = PARTITION_ROWS,
) -> pa.Table:
    """``entities`` comes from ``prepare_entities``; the result keeps its columns plus each
    view's ``columns``, one row per entity row, in order. ``memory_cells``: the largest
    source (rows x columns read) that is held in memory rather than streamed;
    ``partition_rows``: about how many rows each piece of a held source's join takes."""
    keys = list(dict.fromkeys(k for view in views for k in view.join_keys))
    probe = entities.select([ROW_ID, EVENT_TS, *keys])  # labels stay out
    probe = probe.from_arrays([_hashable(c) for c in probe.columns], names=probe.column_names)
    con.execute("SET preserve_insertion_order = false")
    con.register(ENTITIES, probe)
    try:
        for view in views:
            found = view_columns(
                con,
                view,
                entities.num_rows,
                memory_cells=memory_cells,
                partition_rows=partition_rows,
            )
            if found is None:  # a matched (keys, time) pair has ties: the full tie-break
                found = attach_columns(deduped_join(con, view), view, entities.num_rows)
            for name in view.columns:
                entities = entities.append_column(name, found.pop(name))
    finally:
        con.unregister(ENTITIES)
        con.execute("RESET preserve_insertion_order")
    return entities


def view_columns(
    con: duckdb.DuckDBPyConnection,
    view: ViewQuery,
    rows: int,
    *,
    memory_cells: int,
    partition_rows: int = PARTITION_ROWS,
) -> dict[str, pa.Array] | None:
    """The view's columns in entity order, or None if a matched pair has ties.

    A source of at most ``memory_cells`` values (rows x its keys, time and features) is
    read once into memory (``held_columns``: fastest); a larger one is streamed past the
    matched rows (``streamed_columns``: memory bounded by the entity table)."""
    [(count,)] = con.sql(f"SELECT count(*) FROM ({view.held_sql})").fetchall()
    if count * (len(view.join_keys) + 1 + len(view.features)) <= memory_cells:
        partitions = min(MAX_PARTITIONS, max(1, max(count, rows) // max(1, partition_rows)))
        return held_columns(con, view, rows, partitions)
    return streamed_columns(con, view, rows)


def held_columns(
    con: duckdb.DuckDBPyConnection, view: ViewQuery, rows: int, partitions: int = 1
) -> dict[str, pa.Array] | None:
    """The source's keys and time are read into Arrow with a position per row, and the
    ASOF join carries only the position; then each feature is read on its own, in the
    same source order, and gathered by position straight into entity order."""
    con.execute("SET preserve_insertion_order = true")  # positions name rows of every read
    try:
        source = con.sql(keys_sql(view)).to_arrow_table()
    finally:
        con.execute("SET preserve_insertion_order = false")
    source = source.append_column(POSITION, pa.array(np.arange(source.num_rows, dtype=np.int64)))
    con.register(SOURCE, source)
    try:
        positions = matched_positions(con, view, rows, partitions)
        if matched_ties(con, view, source, positions):
            return None
    finally:
        con.unregister(SOURCE)
    source_rows = source.num_rows
    del source  # only positions are needed from here
    return gather_features(con, view, source_rows, positions)


def gather_features(
    con: duckdb.DuckDBPyConnection, view: ViewQuery, source_rows: int, positions: np.ndarray
) -> dict[str, pa.Array]:
    """The features read from the source a few columns at a time (in source order) and
    gathered on worker threads while the next ones are read: about two reads' columns
    are in memory at once, not the whole source (~80 MB less at 1M rows x 10 features).
    Each read evaluates the source's time filter again, so a read takes a few columns."""
    shared = Positions.of(positions)
    futures: list[Future[pa.Array]] = []
    con.execute("SET preserve_insertion_order = true")
    try:
        with ThreadPoolExecutor(max_workers=GATHER_THREADS) as pool:
            for start in range(0, len(view.features), FEATURES_PER_READ):
                if len(futures) >= 2 * FEATURES_PER_READ:
                    futures[-2 * FEATURES_PER_READ].result()  # bound the columns in flight
                names = view.features[start : start + FEATURES_PER_READ]
                listed = ", ".join(quote(f) for f in names)
                table = con.sql(f"SELECT {listed} FROM ({view.held_sql})").to_arrow_table()
                if table.num_rows != source_rows:
                    raise Conflict(
                        f"feature view {view.name!r}: its source changed while it was read "
                        f"({source_rows} rows, then {table.num_rows}); retry"
                    )
                futures += [pool.submit(gather, column, shared) for column in table.columns]
                del table
            return {
                name: future.result() for name, future in zip(view.columns, futures, strict=True)
            }
    finally:
        con.execute("SET preserve_insertion_order = false")


def streamed_columns(
    con: duckdb.DuckDBPyConnection, view: ViewQuery, rows: int
) -> dict[str, pa.Array] | None:
    """The matched rows' keys and source times (``matched_sql``), then their features
    from the source streamed past them (``fetch_sql``): the source is never held."""
    matched = con.sql(matched_sql(view)).to_arrow_table()
    con.register(MATCHED, matched)
    try:
        found = con.sql(fetch_sql(view)).to_arrow_table()
    finally:
        con.unregister(MATCHED)
    if found.num_rows > matched.num_rows:  # a matched (keys, time) pair has ties
        return None
    return attach_columns(found, view, rows)


def matched_positions(
    con: duckdb.DuckDBPyConnection, view: ViewQuery, rows: int, partitions: int = 1
) -> np.ndarray:
    """Per entity row (by row id), the source position of its value, or -1 (no row at or
    before its time, or the row is older than the TTL). The join runs in ``partitions``
    pieces by a hash of the join keys: a key's rows on both sides fall in one piece."""
    on = [f"e.{quote(k)} = s.{quote(k)}" for k in view.join_keys]
    on.append(f"e.{EVENT_TS} >= s.__ts")
    position = f"s.{POSITION}"
    if view.ttl_us is not None:
        position = (
            f"CASE WHEN s.__ts >= e.{EVENT_TS} - to_microseconds({view.ttl_us}) THEN {position} END"
        )
    keys = ", ".join(quote(k) for k in view.join_keys)
    positions = np.empty(rows, dtype=np.int64)
    for part in range(partitions):
        entities, source = ENTITIES, SOURCE
        if partitions > 1:
            piece = f"WHERE hash({keys}) % {partitions} = {part}"
            entities, source = f"(FROM {ENTITIES} {piece})", f"(FROM {SOURCE} {piece})"
        found = con.sql(
            f"SELECT e.{ROW_ID}, {position} FROM {entities} e "
            f"ASOF LEFT JOIN {source} s ON {' AND '.join(on)}"
        ).to_arrow_table()
        # DuckDB returns rows in any order: scatter by row id (an inverse permutation)
        positions[found.column(0).to_numpy()] = found.column(1).fill_null(-1).to_numpy()
    return positions


def _hashable(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """A join key as the type its source column has (BIGINT or VARCHAR), so that equal
    keys hash equal on both sides when the join runs in partitions."""
    kind = column.type
    if pa.types.is_integer(kind) and kind != pa.int64():
        return pc.cast(column, pa.int64())
    if pa.types.is_large_string(kind) or pa.types.is_string_view(kind):
        return pc.cast(column, pa.string())
    return column


def matched_ties(
    con: duckdb.DuckDBPyConnection, view: ViewQuery, source: pa.Table, positions: np.ndarray
) -> bool:
    """Whether a (keys, event time) pair the join matched occurs more than once in the
    source: only then does the tie-break decide a value.

    Joining the matched rows (at most one per entity row) back to the source on keys and
    time gives exactly one row per matched row when no matched pair repeats, and more
    otherwise: a hash join and a count, far cheaper than grouping every source row."""
    used = np.zeros(source.num_rows, dtype=bool)
    used[positions[positions >= 0]] = True
    matched = source.select([*view.join_keys, "__ts"]).take(pa.array(np.flatnonzero(used)))
    if matched.num_rows == 0:
        return False
    on = " AND ".join(f"s.{quote(c)} = m.{quote(c)}" for c in [*view.join_keys, "__ts"])
    con.register(MATCHED, matched)
    try:
        [(count,)] = con.sql(f"SELECT count(*) FROM {SOURCE} s JOIN {MATCHED} m ON {on}").fetchall()
    finally:
        con.unregister(MATCHED)
    return count > matched.num_rows


def keys_sql(view: ViewQuery) -> str:
    """The held source's join keys and event time only."""
    columns = [*view.join_keys, "__ts"]
    return f"SELECT {', '.join(quote(c) for c in columns)} FROM ({view.held_sql})"


def matched_sql(view: ViewQuery) -> str:
    """Row id, keys and source event time of every entity row that has a value: the
    latest source time at or before the row's time, if within the TTL."""
    keys = [quote(k) for k in view.join_keys]
    on = [f"e.{k} = s.{k}" for k in keys]
    on.append(f"e.{EVENT_TS} >= s.__ts")
    fresh = ""
    if view.ttl_us is not None:  # the latest row is too old, so is every earlier one
        fresh = f" WHERE s.__ts >= e.{EVENT_TS} - to_microseconds({view.ttl_us})"
    source = f"SELECT {', '.join(keys)}, __ts FROM ({view.sql})"
    return (
        f"SELECT e.{ROW_ID}, {', '.join(f'e.{k}' for k in keys)}, s.__ts "
        f"FROM {ENTITIES} e ASOF JOIN ({source}) s ON {' AND '.join(on)}{fresh}"
    )


def fetch_sql(view: ViewQuery) -> str:
    """Row id and the view's columns for each matched row, from the source rows with
    its keys and time (one each, unless there are ties)."""
    on = " AND ".join(f"m.{quote(c)} = s.{quote(c)}" for c in [*view.join_keys, "__ts"])
    selected = [
        f"s.{quote(f)} AS {quote(c)}" for f, c in zip(view.features, view.columns, strict=True)
    ]
    return f"SELECT m.{ROW_ID}, {', '.join(selected)} FROM {MATCHED} m JOIN ({view.sql}) s ON {on}"


@dataclass(frozen=True)
class Positions:
    """Per entity row, the row of a column that holds its value, with what every
    column's gather shares (computed once per view, not once per feature)."""

    found: np.ndarray  # whether the entity row has a value
    safe: np.ndarray  # its row, 0 where none: an index numpy's ``take`` accepts
    bitmap: pa.Buffer | None  # Arrow validity of ``found``; None when every row is found
    missing: int

    @classmethod
    def of(cls, at: np.ndarray) -> Positions:
        """From rows with -1 for none. Takes ``at`` over: its -1 entries become 0."""
        found = at >= 0
        missing = len(at) - int(np.count_nonzero(found))
        bitmap = pa.array(found).buffers()[1] if missing else None
        return cls(found, np.maximum(at, 0, out=at), bitmap, missing)


def gather(column: pa.ChunkedArray, positions: Positions) -> pa.Array:
    """``column``'s values at ``positions``, null where none.

    Integer and floating columns are gathered with numpy into a fresh array that the
    Arrow result wraps without a copy (about twice as fast as Arrow's ``take`` with a
    null mask); other types go through ``take``."""
    values = column.combine_chunks()
    kind = values.type
    if len(values) == 0 or not (pa.types.is_integer(kind) or pa.types.is_floating(kind)):
        return pc.take(values, pa.array(positions.safe, mask=~positions.found))
    dtype = np.dtype(kind.to_pandas_dtype())
    raw = np.frombuffer(
        values.buffers()[1], dtype=dtype, count=len(values), offset=values.offset * dtype.itemsize
    )
    out = raw.take(positions.safe)
    if values.null_count:  # the source's own nulls too
        valid = positions.found & pc.is_valid(values).to_numpy(zero_copy_only=False)[positions.safe]
        return pa.array(out, mask=~valid)
    data = pa.py_buffer(out)
    return pa.Array.from_buffers(kind, len(out), [positions.bitmap, data], positions.missing)


def dedupe_sql(view: ViewQuery) -> str:
    """The source with one row per (keys, event time): the tie-break winner."""
    keys = ", ".join(quote(k) for k in view.join_keys)
    return (
        f"SELECT * FROM ({view.sql}) QUALIFY row_number() OVER (PARTITION BY {keys}, __ts "
        "ORDER BY __created DESC NULLS LAST, __file DESC, __row DESC) = 1"
    )


def deduped_join(con: duckdb.DuckDBPyConnection, view: ViewQuery) -> pa.Table:
    """Row id plus the view's columns after the tie-break, in no particular order."""
    on = [f"e.{quote(k)} = s.{quote(k)}" for k in view.join_keys]
    on.append(f"e.{EVENT_TS} >= s.__ts")
    selected = [f"e.{ROW_ID}"]
    for feature, column in zip(view.features, view.columns, strict=True):
        value = f"s.{quote(feature)}"
        if view.ttl_us is not None:
            fresh = f"s.__ts >= e.{EVENT_TS} - to_microseconds({view.ttl_us})"
            value = f"CASE WHEN {fresh} THEN {value} END"
        selected.append(f"{value} AS {quote(column)}")
    return con.sql(
        f"WITH s AS ({dedupe_sql(view)}) SELECT {', '.join(selected)} "
        f"FROM {ENTITIES} e ASOF LEFT JOIN s ON {' AND '.join(on)}"
    ).to_arrow_table()


def attach_columns(found: pa.Table, view: ViewQuery, rows: int) -> dict[str, pa.Array]:
    """``found``'s view columns in entity order (row ``i`` holds row id ``i``; null where
    ``found`` has no row for it)."""
    positions = np.full(rows, -1, dtype=np.int64)
    positions[found.column(ROW_ID).to_numpy()] = np.arange(found.num_rows, dtype=np.int64)
    return gather_all(view.columns, [found.column(name) for name in view.columns], positions)


def gather_all(
    names: tuple[str, ...], columns: list[pa.ChunkedArray], positions: np.ndarray
) -> dict[str, pa.Array]:
    """Each column gathered at ``positions`` (-1: null), on threads (numpy releases the
    GIL). ``columns`` is emptied: each column is freed once gathered."""
    shared = Positions.of(positions)
    with ThreadPoolExecutor(max_workers=GATHER_THREADS) as pool:
        futures = [pool.submit(gather, column, shared) for column in columns]
        columns.clear()
        return {name: future.result() for name, future in zip(names, futures, strict=True)}
