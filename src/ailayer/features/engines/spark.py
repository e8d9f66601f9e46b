"""Batch work on Apache Spark: the same rows as DuckDB, on as many machines as the
master gives.

Spark has no ASOF join, so a view's point-in-time join is a window: the entity rows and
the view's source rows (one per keys and event time, after the tie-break) are unioned,
sorted by time within each entity key (a source row before an entity row at the same
time, so "at or before" holds), and each entity row takes the last source row seen, then
the TTL is applied to its age. Times travel as integer microseconds since the epoch (UTC),
so no session time zone can shift them.

Parquet sources are read by Spark itself (on a cluster the offline store must be on
storage every executor reaches, such as S3: ``s3://`` locations are read as ``s3a://``);
a PostgreSQL source is read once by the driver, as DuckDB does. The join's result, one row
per entity row, comes back to the driver as Arrow and is placed in entity order there.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from ailayer.core.errors import BackendUnavailable, InvalidInput
from ailayer.core.ids import new_id
from ailayer.features.definitions import FeatureView, PostgresSource
from ailayer.features.engines import BatchMap, MapProgress, ViewJoin
from ailayer.features.engines.formats import check_paths
from ailayer.features.engines.spark_session import start_session
from ailayer.features.pit import EVENT_TS, ROW_ID, gather_all
from ailayer.features.sources import SourceReader, quote
from ailayer.features.types import ARROW_TYPES

SPARK_TYPES = {"int64": "bigint", "float64": "double", "string": "string", "bool": "boolean"}
NANOS = ("TIMESTAMP_NS", "TIMESTAMP_NS WITH TIME ZONE")
PROGRESS_SECONDS = 0.5
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class SparkEngine:
    name = "spark"

    def __init__(
        self, master: str, *, timeout_seconds: float = 60.0, conf: dict[str, str] | None = None
    ) -> None:
        self.master = master
        self.timeout_seconds = timeout_seconds
        self.conf = conf or {}
        self._session: Any = None
        self._owned = False
        self._lock = threading.Lock()

    def session(self) -> Any:
        """The Spark session, started on first use (see ``spark_session``)."""
        with self._lock:
            if self._session is None:
                self._session, self._owned = start_session(
                    self.master, self.timeout_seconds, self.conf
                )
            return self._session

    def close(self) -> None:
        """Stop the session if this engine started it (one shared by others stays)."""
        with self._lock:
            if self._session is not None and self._owned:
                self._session.stop()
            self._session = None

    # training sets -----------------------------------------------------------------
    def join(
        self,
        con: duckdb.DuckDBPyConnection,
        reader: SourceReader,
        entities: pa.Table,
        views: list[ViewJoin],
    ) -> pa.Table:
        if not views:  # on-demand features only: nothing to join, no session to start
            return entities
        spark = self.session()
        key_types = {k: t for part in views for k, t in part.view.join_keys.items()}
        probe = spark.createDataFrame(_probe(entities, key_types))
        for part in views:
            source = self._source(con, reader, part.view, part.since, part.until)
            found = _as_of(probe, deduplicated(source, part.view), part).toArrow()
            found = _typed(found, part)
            columns = [found.column(c) for c in part.columns]
            positions = _positions(found.column(ROW_ID), entities.num_rows)
            for name, values in gather_all(part.columns, columns, positions).items():
                entities = entities.append_column(name, values)
        return entities

    # materialization ---------------------------------------------------------------
    def latest(
        self,
        con: duckdb.DuckDBPyConnection,
        reader: SourceReader,
        view: FeatureView,
        start: datetime | None,
        end: datetime,
    ) -> str:
        from pyspark.sql import Window
        from pyspark.sql import functions as F

        source = self._source(con, reader, view, start, end)
        keys = list(view.join_keys)
        order = [
            F.col("__ts").desc(),
            F.col("__created").desc_nulls_last(),
            F.col("__file").desc(),
            F.col("__row").desc(),
        ]
        window = Window.partitionBy(*keys).orderBy(*order)
        rows = source.withColumn("__n", F.row_number().over(window)).where("__n = 1").drop("__n")
        table = _as_timestamps(rows.toArrow(), ("__ts", "__created"))
        name = f"spark_latest_{new_id()}"
        con.register(name, table)
        return f"SELECT * FROM {quote(name)}"

    # batch maps --------------------------------------------------------------------
    def map_file(
        self, source: str, target: str, fn: BatchMap, progress: MapProgress | None = None
    ) -> int:
        """``source`` read by Spark, ``fn`` broadcast once and run on Arrow batches in
        each task, written by Spark: ``target`` is a folder of part files (what Spark
        writes on a cluster). Progress counts finished tasks."""
        from pyspark.sql.pandas.types import from_arrow_schema

        kinds = check_paths(source, target)
        source, target = os.path.abspath(source), os.path.abspath(target)  # not the JVM's cwd
        spark = self.session()
        reader = spark.read.option("header", "true").option("inferSchema", "true")
        frame = reader.parquet(source) if kinds[0] == "parquet" else reader.csv(source)
        given = pa.schema([(f.name, _arrow_type(f.dataType)) for f in frame.schema.fields])
        shipped = spark.sparkContext.broadcast(fn)
        written = spark.sparkContext.accumulator(0)
        schema = from_arrow_schema(fn.schema(given))

        def run(batches: Any) -> Any:
            mapper = shipped.value
            for batch in batches:
                written.add(batch.num_rows)
                yield mapper(batch)

        write = frame.mapInArrow(run, schema).write.mode("errorifexists")
        if kinds[1] == "csv":
            write = write.option("header", "true")
        save = write.parquet if kinds[1] == "parquet" else write.csv
        try:
            _with_progress(spark, lambda: save(target), progress)
        except Exception as exc:
            raise _task_error(exc) from None
        finally:
            shipped.unpersist()
        return int(written.value)

    # sources -----------------------------------------------------------------------
    def _source(
        self,
        con: duckdb.DuckDBPyConnection,
        reader: SourceReader,
        view: FeatureView,
        since: datetime | None,
        until: datetime | None,
    ) -> Any:
        """The view's source in the normalised columns of ``sources.py``, with ``__ts``
        and ``__created`` as epoch microseconds, within ``[since, until]``."""
        from pyspark.sql import functions as F

        spark = self.session()
        if isinstance(view.source, PostgresSource):
            table = con.sql(reader.source_sql(con, view, since, until)).to_arrow_table()
            frame = spark.createDataFrame(_as_micros(table, ("__ts", "__created")))
        else:
            frame = _parquet_source(spark, con, reader, view)
        frame = frame.where(F.col("__ts").isNotNull())
        if since is not None:
            frame = frame.where(F.col("__ts") >= _micros(since))
        if until is not None:
            frame = frame.where(F.col("__ts") <= _micros(until))
        return frame


def _parquet_source(
    spark: Any, con: duckdb.DuckDBPyConnection, reader: SourceReader, view: FeatureView
) -> Any:
    from pyspark.sql import functions as F

    types = reader.parquet_columns(con, view)  # checked against the view, as DuckDB does
    files = [_spark_path(f) for f in reader.parquet_files(view)]
    raw = spark.read.option("mergeSchema", "true").parquet(*files)
    source = view.source
    created = source.created_timestamp_field
    columns = [
        F.col(quote_spark(k)).cast(SPARK_TYPES[t]).alias(k) for k, t in view.join_keys.items()
    ]
    columns.append(_time(source.timestamp_field, types[source.timestamp_field]).alias("__ts"))
    columns.append(
        _time(created, types[created]).alias("__created")
        if created
        else F.lit(None).cast("bigint").alias("__created")
    )
    columns.append(F.col("_metadata.file_path").alias("__file"))
    columns.append(F.col("_metadata.row_index").alias("__row"))
    columns += [
        F.col(quote_spark(f.name)).cast(SPARK_TYPES[f.dtype]).alias(f.name)
        for f in view.features  # type: ignore[union-attr]
    ]
    return raw.select(*columns)


def deduplicated(source: Any, view: FeatureView) -> Any:
    """One source row per (keys, event time): the later created time, then the later
    file, then the later row wins; rows with a null key can match nothing."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    keys = list(view.join_keys)
    order = [
        F.col("__created").desc_nulls_last(),
        F.col("__file").desc(),
        F.col("__row").desc(),
    ]
    window = Window.partitionBy(*keys, "__ts").orderBy(*order)
    for key in keys:
        source = source.where(F.col(quote_spark(key)).isNotNull())
    return source.withColumn("__n", F.row_number().over(window)).where("__n = 1")


def _as_of(probe: Any, source: Any, part: ViewJoin) -> Any:
    """Row id and the view's columns for every entity row (null where no value)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    keys = [quote_spark(k) for k in part.view.join_keys]
    values = [F.col(quote_spark(f)).alias(f"f{i}") for i, f in enumerate(part.features)]
    right = source.select(
        *keys,
        F.col("__ts").alias("__t"),
        F.lit(0).alias("__kind"),
        F.lit(None).cast("bigint").alias(ROW_ID),
        F.struct(F.col("__ts").alias("__src"), *values).alias("__v"),
    )
    left = probe.select(
        *keys,
        F.col("__t"),
        F.lit(1).alias("__kind"),
        F.col(ROW_ID),
        F.lit(None).cast(right.schema["__v"].dataType).alias("__v"),
    )
    window = (
        Window.partitionBy(*keys)
        .orderBy("__t", "__kind")
        .rowsBetween(Window.unboundedPreceding, Window.currentRow)
    )
    matched = (
        left.unionByName(right)
        .withColumn("__m", F.last("__v", ignorenulls=True).over(window))
        .where("__kind = 1")
    )
    fresh = F.lit(True)
    if part.ttl_us is not None:
        fresh = F.col("__m.__src") >= F.col("__t") - F.lit(part.ttl_us)
    picked = [
        F.when(fresh, F.col(f"__m.f{i}")).alias(column) for i, column in enumerate(part.columns)
    ]
    return matched.select(F.col(ROW_ID), *picked)


def _probe(entities: pa.Table, key_types: dict[str, str]) -> pa.Table:
    """What Spark needs of the entity table: row id, time in microseconds, join keys
    (labels and other columns stay on the driver)."""
    columns = {ROW_ID: entities.column(ROW_ID)}
    columns["__t"] = pc.cast(entities.column(EVENT_TS), pa.int64())
    for key, dtype in key_types.items():
        columns[key] = pc.cast(entities.column(key), ARROW_TYPES[dtype])
    return pa.table(columns)


def _typed(found: pa.Table, part: ViewJoin) -> pa.Table:
    """The view's columns in the declared Arrow types (as DuckDB returns them)."""
    for feature, column in zip(part.features, part.columns, strict=True):
        dtype = part.view.feature(feature).dtype  # type: ignore[union-attr]
        index = found.column_names.index(column)
        found = found.set_column(index, column, pc.cast(found.column(column), ARROW_TYPES[dtype]))
    return found


def _positions(row_ids: pa.ChunkedArray, rows: int) -> Any:
    import numpy as np

    positions = np.full(rows, -1, dtype=np.int64)
    positions[row_ids.to_numpy()] = np.arange(len(row_ids), dtype=np.int64)
    return positions


def _time(column: str, duckdb_type: str) -> Any:
    """A source time column as epoch microseconds (UTC), whatever its Parquet type."""
    from pyspark.sql import functions as F

    if duckdb_type in NANOS:  # read as a long of nanoseconds (spark.sql.legacy.parquet.nanosAsLong)
        return F.expr(f"CAST({quote_spark(column)} AS BIGINT) div 1000")
    return F.unix_micros(F.col(quote_spark(column)).cast("timestamp"))


def _micros(value: datetime) -> int:
    return (value - EPOCH) // timedelta(microseconds=1)


def _as_micros(table: pa.Table, names: tuple[str, ...]) -> pa.Table:
    for name in names:
        index = table.column_names.index(name)
        column = pc.cast(table.column(name), pa.timestamp("us"))
        table = table.set_column(index, name, pc.cast(column, pa.int64()))
    return table


def _as_timestamps(table: pa.Table, names: tuple[str, ...]) -> pa.Table:
    for name in names:
        index = table.column_names.index(name)
        column = pc.cast(table.column(name), pa.int64())
        table = table.set_column(index, name, pc.cast(column, pa.timestamp("us")))
    return table


def _task_error(exc: Exception) -> Exception:
    """An ailayer error raised in a task (a bad value in the file), as itself and not a
    JVM stack trace; anything else unchanged."""
    found = re.search(r"ailayer\.core\.errors\.InvalidInput: ([^\n]+)", str(exc))
    if found is not None:
        return InvalidInput(found.group(1).strip(), field="--input")
    if type(exc).__module__.startswith(("pyspark", "py4j")):
        said = str(exc).strip().splitlines()
        return BackendUnavailable(f"Spark failed: {said[0][:300] if said else type(exc).__name__}")
    return exc


def quote_spark(name: str) -> str:
    """A column name for Spark's parser (dots and spaces are otherwise special)."""
    return "`" + name.replace("`", "``") + "`"


def _spark_path(location: str) -> str:
    return "s3a://" + location.removeprefix("s3://") if location.startswith("s3://") else location


def _arrow_type(spark_type: Any) -> pa.DataType:
    from pyspark.sql.pandas.types import to_arrow_type

    return to_arrow_type(spark_type)


def _with_progress(spark: Any, action: Callable[[], None], progress: MapProgress | None) -> None:
    """Run ``action`` in a job group of its own while a thread reports the finished and
    total tasks of the group's stages; a last report when it is done."""
    if progress is None:
        action()
        return
    context = spark.sparkContext
    group = f"ailayer-map-{new_id()}"
    stop = threading.Event()

    def report() -> None:
        done, total = _group_tasks(context.statusTracker(), group)
        if total:
            progress(done, total, "tasks")

    def watch() -> None:
        while not stop.wait(PROGRESS_SECONDS):
            report()

    progress(0, None, "tasks")
    watcher = threading.Thread(target=watch, name="spark-progress", daemon=True)
    watcher.start()
    try:
        context.setJobGroup(group, "ailayer batch map")
        action()
    finally:
        stop.set()
        watcher.join()
        context.setLocalProperty("spark.jobGroup.id", None)
    report()


def _group_tasks(tracker: Any, group: str) -> tuple[int, int]:
    """(finished, total) tasks of the stages of a job group's jobs so far."""
    stages = []
    for job in tracker.getJobIdsForGroup(group):
        info = tracker.getJobInfo(job)
        stages += [tracker.getStageInfo(s) for s in (info.stageIds if info else [])]
    known = [s for s in stages if s is not None]
    return sum(s.numCompletedTasks for s in known), sum(s.numTasks for s in known)
