"""The default batch engine: DuckDB in this process.

The join is ``ailayer.features.pit`` (ASOF joins, memory bounded by the entity table),
the latest rows a ``row_number()`` window over the source, and a batch map a stream of
record batches read by DuckDB and written as they come: memory holds one batch, not the
file.
"""

from __future__ import annotations

import os
from datetime import datetime

import duckdb
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from ailayer.features.definitions import FeatureView
from ailayer.features.engines import BatchMap, MapProgress, ViewJoin
from ailayer.features.engines.formats import check_paths
from ailayer.features.pit import ViewQuery, point_in_time_join
from ailayer.features.sources import SourceReader, literal, quote

BATCH_ROWS = 65_536


class DuckDBEngine:
    name = "duckdb"

    def join(
        self,
        con: duckdb.DuckDBPyConnection,
        reader: SourceReader,
        entities: pa.Table,
        views: list[ViewJoin],
    ) -> pa.Table:
        queries = []
        for part in views:
            sql, unbounded = reader.source_sqls(con, part.view, part.since, part.until)
            keys = tuple(part.view.join_keys)
            queries.append(
                ViewQuery(part.name, sql, keys, part.features, part.columns, part.ttl_us, unbounded)
            )
        return point_in_time_join(con, entities, queries)

    def latest(
        self,
        con: duckdb.DuckDBPyConnection,
        reader: SourceReader,
        view: FeatureView,
        start: datetime | None,
        end: datetime,
    ) -> str:
        return latest_sql(reader.source_sql(con, view, start, end), view)

    def map_file(
        self, source: str, target: str, fn: BatchMap, progress: MapProgress | None = None
    ) -> int:
        """Batches of ``BATCH_ROWS`` read, mapped and written in turn; the output appears
        under its name only when complete."""
        kinds = check_paths(source, target)
        con = duckdb.connect()
        try:
            total = None  # a CSV file's rows are known only once it has been read
            if kinds[0] == "parquet":
                [(total,)] = con.sql(
                    f"SELECT count(*) FROM {_reader(source, 'parquet')}"
                ).fetchall()
            batches = con.sql(f"SELECT * FROM {_reader(source, kinds[0])}").to_arrow_reader(
                BATCH_ROWS
            )
            partial = f"{target}.partial"
            try:
                done = _write(batches, fn, partial, kinds[1], total, progress)
                os.replace(partial, target)
            finally:
                if os.path.exists(partial):
                    os.remove(partial)
        finally:
            con.close()
        return done

    def close(self) -> None:
        return None


def latest_sql(source_sql: str, view: FeatureView) -> str:
    """Per entity, the source row with the latest event time (ties: the later created
    time, then the later file, then the later row)."""
    keys = ", ".join(quote(k) for k in view.join_keys)
    return (
        f"SELECT * FROM ({source_sql}) QUALIFY row_number() OVER (PARTITION BY {keys} "
        "ORDER BY __ts DESC, __created DESC NULLS LAST, __file DESC, __row DESC) = 1"
    )


def _reader(path: str, kind: str) -> str:
    if kind == "parquet":
        return f"read_parquet({literal(path)})"
    return f"read_csv({literal(path)}, header = true)"


def _write(
    batches: pa.RecordBatchReader,
    fn: BatchMap,
    path: str,
    kind: str,
    total: int | None,
    progress: MapProgress | None,
) -> int:
    schema = fn.schema(batches.schema)
    writer: pq.ParquetWriter | pa_csv.CSVWriter
    writer = pq.ParquetWriter(path, schema) if kind == "parquet" else pa_csv.CSVWriter(path, schema)
    done = 0
    try:
        if progress is not None:
            progress(0, total, "rows")
        for batch in batches:
            writer.write_batch(fn(batch))
            done += batch.num_rows
            if progress is not None:
                progress(done, total, "rows")
        if progress is not None:
            progress(done, done, "rows")  # now the total is known, CSV too
    finally:
        writer.close()
    return done
