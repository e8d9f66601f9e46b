"""The offline store: Parquet under ``offline_store`` (and PostgreSQL tables), read by DuckDB.

``get_training_set`` builds a point-in-time correct training set for an entity table,
runs on-demand transforms on it, and records a ``DatasetVersion``. Each tenant's files
live under ``<root>/<tenant>/``; relative source paths resolve there, and saved training
sets go to ``<root>/<tenant>/datasets/<dataset_version>.parquet``.

The root is a local directory (``file://``) or an S3 prefix (``s3://``): see
``ailayer.features.files``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

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
from ailayer.features.definitions_store import FeatureRegistry
from ailayer.features.engines import BatchEngine, ViewJoin
from ailayer.features.engines.duckdb import DuckDBEngine
from ailayer.features.files import Folder, open_folder, read_parquet_url
from ailayer.features.frames import to_pandas
from ailayer.features.ondemand import Transforms, input_names, run_row
from ailayer.features.pit import EVENT_TS, prepare_entities
from ailayer.features.sources import SourceReader
from ailayer.features.types import ARROW_TYPES

TENANT_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def tenant_folder(root: Folder, tenant_id: str) -> Folder:
    """A tenant's folder under the offline store's ``root`` (the id is checked: it
    becomes a path)."""
    if not TENANT_PATTERN.match(tenant_id):
        raise InvalidInput(f"bad tenant id {tenant_id!r}", field="tenant")
    return root.child(tenant_id)


class OfflineStore:
    def __init__(
        self,
        url: str,
        db: Database,
        registry: FeatureRegistry,
        transforms: Transforms | Iterable[Any] = (),
        *,
        allow_external_paths: bool = False,
        engine: BatchEngine | None = None,
    ) -> None:
        """``engine``: what runs the point-in-time joins (default: DuckDB here)."""
        self.root = open_folder(url)
        self.engine: BatchEngine = engine or DuckDBEngine()
        self.db = db
        self.registry = registry
        self.transforms = (
            transforms if isinstance(transforms, Transforms) else Transforms(transforms)
        )
        self.allow_external_paths = allow_external_paths

    def tenant_root(self, tenant_id: str) -> Folder:
        """The tenant's folder: its sources, datasets, prediction log and stream logs."""
        return tenant_folder(self.root, tenant_id)

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
        con = reader.tenant_root.connect()
        try:
            parts = []
            for name, (view, feats) in selection.views.items():
                since = None if low is None or view.ttl is None else low - view.ttl
                ttl_us = None if view.ttl is None else view.ttl // timedelta(microseconds=1)
                parts.append(ViewJoin(name, view, tuple(feats), since, high, ttl_us))
            return self.engine.join(con, reader, entities, parts)
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
            datasets = self.tenant_root(tenant_id).child("datasets")
            datasets.write_parquet(f"{dataset_id}.parquet", result)
            location = datasets.child(f"{dataset_id}.parquet").url
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

    def read_dataset(self, tenant_id: str, dataset_version: str) -> pa.Table | None:
        """A saved training set's rows; None when it was not kept."""
        record = self.dataset(tenant_id, dataset_version)
        return read_parquet_url(record.location) if record.location else None


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
