"""The offline store: Parquet under ``offline_store`` (and PostgreSQL tables), read by DuckDB.

``get_training_set`` builds a point-in-time correct training set for an entity table,
runs on-demand transforms on it, and records a ``DatasetVersion``. Each tenant's files
live under ``<root>/<tenant>/``; relative source paths resolve there, and saved training
sets go to ``<root>/<tenant>/datasets/<dataset_version>.parquet``.

Only ``file://`` roots are supported for now; ``s3://`` is planned (DuckDB's httpfs can
read it, but writing datasets and the credentials story are still to do).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ailayer.core.errors import InvalidInput
from ailayer.core.ids import new_id
from ailayer.db.engine import Database
from ailayer.features.catalog import Selection
from ailayer.features.datasets import (
    DatasetVersion,
    content_hash,
    get_dataset,
    new_record,
    save_dataset,
    schema_of,
)
from ailayer.features.frames import to_pandas
from ailayer.features.ondemand import Transforms, input_names, run_row
from ailayer.features.pit import EVENT_TS, ViewQuery, point_in_time_join, prepare_entities
from ailayer.features.registry import FeatureRegistry
from ailayer.features.sources import SourceReader
from ailayer.features.types import ARROW_TYPES

TENANT_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def offline_root(url: str) -> Path:
    if url.startswith("file://"):
        return Path(url.removeprefix("file://"))
    raise InvalidInput(
        f"offline_store must be a file:// URL for now (s3:// is planned); got {url!r}",
        field="offline_store",
    )


def connect() -> duckdb.DuckDBPyConnection:
    """A DuckDB connection for offline queries.

    Two settings keep a training set's peak memory down (measured in
    ``benchmarks/features.py``): Parquet prefetching is off (it reads a whole row group's
    column chunks into memory before decoding them, which for local files only raises the
    peak: a 1,000,000-row group of 12 columns took ~210 MB of RSS for ~97 MB of data, ~125
    MB without it, and was no faster), and DuckDB's allocator hands freed memory back to
    the system after each large free rather than keeping it for later queries (so the
    join's working memory is not still held while the features are gathered)."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET disable_parquet_prefetching = true")
    con.execute("SET allocator_bulk_deallocation_flush_threshold = '1MB'")
    return con


class OfflineStore:
    def __init__(
        self,
        url: str,
        db: Database,
        registry: FeatureRegistry,
        transforms: Transforms | Iterable[Any] = (),
        *,
        allow_external_paths: bool = False,
    ) -> None:
        self.root = offline_root(url)
        self.db = db
        self.registry = registry
        self.transforms = (
            transforms if isinstance(transforms, Transforms) else Transforms(transforms)
        )
        self.allow_external_paths = allow_external_paths

    def tenant_root(self, tenant_id: str) -> Path:
        if not TENANT_PATTERN.match(tenant_id):
            raise InvalidInput(f"bad tenant id {tenant_id!r}", field="tenant")
        return self.root / tenant_id

    def reader(self, tenant_id: str) -> SourceReader:
        return SourceReader(
            self.tenant_root(tenant_id), allow_external_paths=self.allow_external_paths
        )

    def get_training_set(
        self,
        tenant_id: str,
        entity_df: Any,
        features: str | Iterable[str],
        *,
        timestamp_column: str = "event_timestamp",
        full_names: bool = False,
        actor: str | None = None,
        keep: bool = True,
    ) -> tuple[Any, DatasetVersion]:
        """(training set, its dataset version). A pandas ``entity_df`` gives pandas back."""
        selection = self.registry.catalog(tenant_id).select(features, full_names=full_names)
        as_pandas = not isinstance(entity_df, pa.Table)
        given = pa.Table.from_pandas(entity_df, preserve_index=False) if as_pandas else entity_df
        _check_request_columns(selection, given)
        clashes = [o.column for o in selection.outputs if o.column in given.column_names]
        if clashes:
            raise InvalidInput(f"entity_df already has columns {clashes}", field="entity_df")
        entities = prepare_entities(given, timestamp_column, selection.join_keys)
        joined = self._join(tenant_id, entities, selection)
        joined = _apply_defaults(joined, selection)
        joined = self._run_on_demand(joined, selection)
        result = _project(joined, given.column_names, selection)
        if not as_pandas:
            return result, self._record(tenant_id, result, entities, selection, actor, keep)
        # the feature columns were made for this result alone: pandas shares them
        frame = to_pandas(result, [o.column for o in selection.outputs])
        return frame, self._record(tenant_id, result, entities, selection, actor, keep)

    def _join(self, tenant_id: str, entities: pa.Table, selection: Selection) -> pa.Table:
        low, high = _bounds(entities)
        reader = self.reader(tenant_id)
        con = connect()
        try:
            queries = []
            for name, (view, feats) in selection.views.items():
                since = None if low is None or view.ttl is None else low - view.ttl
                sql = reader.source_sql(con, view, since, high)
                ttl_us = None if view.ttl is None else view.ttl // timedelta(microseconds=1)
                columns = tuple(f"{name}__{f}" for f in feats)
                queries.append(ViewQuery(name, sql, tuple(view.join_keys), feats, columns, ttl_us))
            return point_in_time_join(con, entities, queries)
        finally:
            con.close()

    def _run_on_demand(self, table: pa.Table, selection: Selection) -> pa.Table:
        for applied in selection.on_demand:
            view = self.transforms.bind(applied)
            sources = [ref.replace(":", "__") for ref in view.inputs] + list(view.request)
            rows = table.select(sources).rename_columns(input_names(view)).to_pylist()
            outputs = [run_row(view, row, f"entity_df row {i}") for i, row in enumerate(rows)]
            for feature in view.features:  # type: ignore[union-attr]
                values = pa.array([o[feature.name] for o in outputs], ARROW_TYPES[feature.dtype])
                table = table.append_column(f"{view.name}__{feature.name}", values)
        return table

    def _record(
        self,
        tenant_id: str,
        result: pa.Table,
        entities: pa.Table,
        selection: Selection,
        actor: str | None,
        keep: bool,
    ) -> DatasetVersion:
        dataset_id = new_id()
        location = None
        if keep:
            path = self.tenant_root(tenant_id) / "datasets" / f"{dataset_id}.parquet"
            path.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(result, path)
            location = f"file://{path.resolve()}"
        low, high = _bounds(entities)
        record = new_record(
            id=dataset_id,
            content_sha256=content_hash(result),
            row_count=result.num_rows,
            schema=schema_of(result),
            features=[f"{o.view}:{o.feature}" for o in selection.outputs],
            definitions=dict(selection.definitions),
            start_at=low,
            end_at=high,
            location=location,
            created_by=actor,
        )
        return save_dataset(self.db, tenant_id, record)

    def dataset(self, tenant_id: str, dataset_version: str) -> DatasetVersion:
        return get_dataset(self.db, tenant_id, dataset_version)


def _check_request_columns(selection: Selection, table: pa.Table) -> None:
    for view in selection.on_demand:
        for name in view.request:
            if name not in table.column_names:
                raise InvalidInput(
                    f"entity_df needs column {name!r}: on-demand view {view.name!r} reads it "
                    "as request data",
                    field=name,
                )


def _bounds(entities: pa.Table) -> tuple[datetime | None, datetime | None]:
    extremes = pc.min_max(entities.column(EVENT_TS)).as_py()
    low, high = extremes["min"], extremes["max"]
    return (
        None if low is None else low.replace(tzinfo=UTC),
        None if high is None else high.replace(tzinfo=UTC),
    )


def _apply_defaults(table: pa.Table, selection: Selection) -> pa.Table:
    """Declared defaults fill missing values, as they do when serving (no skew)."""
    for name, (view, feats) in selection.views.items():
        for feature_name in feats:
            feature = view.feature(feature_name)
            if feature is not None and feature.default is not None:
                column = f"{name}__{feature_name}"
                index = table.column_names.index(column)
                filled = pc.fill_null(
                    table.column(column), pa.scalar(feature.default, ARROW_TYPES[feature.dtype])
                )  # type: ignore[index]
                table = table.set_column(index, column, filled)
    return table


def _project(table: pa.Table, given: list[str], selection: Selection) -> pa.Table:
    columns = [*given, *(o.internal for o in selection.outputs)]
    names = [*given, *(o.column for o in selection.outputs)]
    return table.select(columns).rename_columns(names)
