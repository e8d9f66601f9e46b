"""Batch engines: what runs the offline store's heavy work.

Three jobs go through a ``BatchEngine``: the point-in-time join of a training set, the
latest value per entity that materialization copies online, and mapping a file of rows
through a function (``ailayer score``). ``DuckDBEngine`` (the default) runs them in this
process; ``SparkEngine`` runs them on Apache Spark at the ``spark_master`` URL (the
``spark`` extra), for data that outgrows one machine. Both give the same rows:
``tests/integration/features/test_spark_engine.py`` compares them row by row.

    open_engine("duckdb")                          # in this process
    open_engine("spark", master="spark://h:7077")  # on a cluster; nothing starts until used
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

import pyarrow as pa

if TYPE_CHECKING:
    import duckdb

    from ailayer.features.definitions import FeatureView
    from ailayer.features.sources import SourceReader

# (units done, units in all or None when unknown, what a unit is: "rows" or "tasks")
MapProgress = Callable[[int, int | None, str], None]


@dataclass(frozen=True)
class ViewJoin:
    """One view's part of a training set: the view, the features taken from it (as
    ``<name>__<feature>`` columns), and the event times its rows can matter in."""

    name: str
    view: FeatureView
    features: tuple[str, ...]
    since: datetime | None
    until: datetime | None
    ttl_us: int | None

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(f"{self.name}__{f}" for f in self.features)


class BatchMap(Protocol):
    """A function over batches of rows that an engine can ship to where the rows are.

    It must pickle (Spark sends it to executors once, as a broadcast), and its output for a
    batch must have ``schema(batch.schema)`` and as many rows, in the same order."""

    def schema(self, given: pa.Schema) -> pa.Schema: ...

    def __call__(self, batch: pa.RecordBatch) -> pa.RecordBatch: ...


class BatchEngine(Protocol):
    """The contract every engine keeps (and the comparison test checks):

    - ``join``: ``entities`` comes from ``pit.prepare_entities``; the result is it plus
      each view's columns, one row per entity row in order, with the values of
      ``ailayer.features.pit``'s rules (latest at or before, TTL, ties, nulls);
    - ``latest``: a relation ``con`` can read holding, per entity of ``view``, its row with
      the latest event time in ``[start, end]`` (ties broken as in the join), in the
      normalised columns of ``sources.py``;
    - ``map_file``: ``source`` (Parquet or CSV) through ``fn`` into ``target``; returns
      the rows written;
    - ``close``: release what the engine started."""

    name: str

    def join(
        self,
        con: duckdb.DuckDBPyConnection,
        reader: SourceReader,
        entities: pa.Table,
        views: list[ViewJoin],
    ) -> pa.Table: ...

    def latest(
        self,
        con: duckdb.DuckDBPyConnection,
        reader: SourceReader,
        view: FeatureView,
        start: datetime | None,
        end: datetime,
    ) -> str: ...

    def map_file(
        self, source: str, target: str, fn: BatchMap, progress: MapProgress | None = None
    ) -> int: ...

    def close(self) -> None: ...


ENGINES = ("duckdb", "spark")


def open_engine(
    name: str,
    *,
    master: str = "local[*]",
    timeout_seconds: float = 60.0,
    conf: Mapping[str, str] | None = None,
) -> BatchEngine:
    """The engine the ``batch_engine`` setting names. Starts nothing: a Spark session is
    made on first use."""
    if name == "duckdb":
        from ailayer.features.engines.duckdb import DuckDBEngine

        return DuckDBEngine()
    if name == "spark":
        from ailayer.features.engines.spark import SparkEngine

        return SparkEngine(master, timeout_seconds=timeout_seconds, conf=dict(conf or {}))
    from ailayer.core.errors import InvalidInput

    raise InvalidInput(
        f"batch_engine must be one of {', '.join(ENGINES)}; got {name!r}", field="batch_engine"
    )
