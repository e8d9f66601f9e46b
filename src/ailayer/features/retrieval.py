"""Online retrieval: feature values for entity rows, at request time.

Hot-path discipline: definitions come from a per-tenant cache refreshed every
``refresh_seconds`` (so an apply is seen everywhere within that time, and no request
reads the registry when the cache is warm); the reads of all views are one ``read_many``
(one round trip on Redis) for all rows; no pandas or Arrow on this path. The call blocks on the store, so an
async caller runs it in a worker thread.

A missing value (no row, expired, or null) takes the feature's declared default; a
missing value without a default is reported by name in one ``InvalidInput`` (or left
``None`` with ``strict=False``). On-demand views then run on each row, with the request
data and the input features, exactly as they did for the training set.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ailayer.core.errors import InvalidInput
from ailayer.features.batching import ReadBatcher
from ailayer.features.catalog import Catalog, Selection, internal_name, storage_name
from ailayer.features.definitions import FeatureView, OnDemandView
from ailayer.features.definitions_store import FeatureRegistry
from ailayer.features.ondemand import Transforms, input_names, run_row
from ailayer.features.stores.online import OnlineStore, OnlineValue, Read, entity_key
from ailayer.features.types import check_value

MAX_REPORTED = 20
MAX_CACHED_SELECTIONS = 1024


class FeatureServer:
    def __init__(
        self,
        registry: FeatureRegistry,
        store: OnlineStore,
        transforms: Transforms | Iterable[Any] = (),
        *,
        refresh_seconds: float = 1.0,
    ) -> None:
        self.registry = registry
        self.store = store
        self.batcher = ReadBatcher(store)  # for async callers: see ``features/batching.py``
        self.transforms = (
            transforms if isinstance(transforms, Transforms) else Transforms(transforms)
        )
        self.refresh_seconds = refresh_seconds
        self._catalogs: dict[str, tuple[float, Catalog]] = {}
        self._selections: dict[tuple, tuple[float, Selection, tuple[OnDemandView, ...]]] = {}

    def get_online_features(
        self,
        tenant_id: str,
        features: str | Sequence[str],
        entity_rows: Sequence[Mapping[str, Any]],
        request_data: Sequence[Mapping[str, Any]] | Mapping[str, Any] | None = None,
        *,
        full_names: bool = False,
        strict: bool = True,
        now: datetime | None = None,
    ) -> list[dict[str, Any]]:
        """One dict per entity row: its join keys and the requested features, by column name.

        ``features`` is a feature service name or a list of ``view:feature`` refs;
        ``request_data`` is one mapping per row, or one mapping for every row (request
        fields may also be given in the entity rows themselves).
        """
        lookup = self.lookup(
            tenant_id, features, entity_rows, request_data, full_names=full_names, now=now
        )
        return lookup.answer(self.store.read_many(lookup.reads), strict=strict)

    def lookup(
        self,
        tenant_id: str,
        features: str | Sequence[str],
        entity_rows: Sequence[Mapping[str, Any]],
        request_data: Sequence[Mapping[str, Any]] | Mapping[str, Any] | None = None,
        *,
        full_names: bool = False,
        now: datetime | None = None,
    ) -> Lookup:
        """``get_online_features`` up to its store reads (checked, keys made): the caller
        runs ``reads`` (``store.read_many``, or a ``ReadBatcher`` shared by concurrent
        requests) and passes what they found to ``Lookup.answer``."""
        selection, transforms = self._selection(tenant_id, features, full_names)
        rows = _check_rows(entity_rows)
        requests = _request_rows(request_data, rows)
        views, reads = [], []
        for _name, (view, feats) in selection.views.items():
            keys = [_entity_key(view, row, i) for i, row in enumerate(rows)]
            unique = list(dict.fromkeys(keys))
            views.append((view, feats, keys))
            reads.append(Read(tenant_id, storage_name(view), unique, feats, view.ttl, now))
        return Lookup(selection, transforms, rows, requests, views, reads)

    # definitions cache -----------------------------------------------------------
    def _catalog(self, tenant_id: str) -> Catalog:
        cached = self._catalogs.get(tenant_id)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        catalog = self.registry.catalog(tenant_id)
        self._catalogs[tenant_id] = (time.monotonic() + self.refresh_seconds, catalog)
        return catalog

    def _selection(
        self, tenant_id: str, features: str | Sequence[str], full_names: bool
    ) -> tuple[Selection, tuple[OnDemandView, ...]]:
        key = (tenant_id, features if isinstance(features, str) else tuple(features), full_names)
        cached = self._selections.get(key)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1], cached[2]
        selection = self._catalog(tenant_id).select(features, full_names=full_names)
        transforms = tuple(self.transforms.bind(v) for v in selection.on_demand)
        if len(self._selections) >= MAX_CACHED_SELECTIONS:
            self._selections.clear()  # arbitrary ref lists from clients must not grow memory
        self._selections[key] = (time.monotonic() + self.refresh_seconds, selection, transforms)
        return selection, transforms


@dataclass(frozen=True)
class Lookup:
    """One online lookup between its reads and its answer (see ``FeatureServer.lookup``)."""

    selection: Selection
    transforms: tuple[OnDemandView, ...]
    rows: list[Mapping[str, Any]]
    requests: list[Mapping[str, Any]]
    views: list[tuple[FeatureView, tuple[str, ...], list[str]]]  # view, features, row keys
    reads: list[Read]  # one per view, its keys deduplicated

    def answer(
        self, found: list[list[OnlineValue | None]], *, strict: bool = True
    ) -> list[dict[str, Any]]:
        """The rows, from what ``reads`` found (one list per read): defaults applied,
        missing values reported (``strict``), on-demand views run."""
        values: list[dict[str, Any]] = [{} for _ in self.rows]
        missing: list[str] = []
        for (view, feats, keys), read, hits in zip(self.views, self.reads, found, strict=True):
            _fill(
                view, feats, keys, dict(zip(read.entity_keys, hits, strict=True)), values, missing
            )
        if missing and strict:
            shown = ", ".join(missing[:MAX_REPORTED]) + (
                " …" if len(missing) > MAX_REPORTED else ""
            )
            raise InvalidInput(
                f"missing feature values (no default declared): {shown}", field="features"
            )
        for view in self.transforms:
            _run_on_demand(view, self.rows, self.requests, values)
        return _assemble(self.selection, self.rows, values)


def _fill(
    view: FeatureView,
    feats: tuple[str, ...],
    keys: list[str],
    found: dict[str, OnlineValue | None],
    values: list[dict[str, Any]],
    missing: list[str],
) -> None:
    """One view's values into each row: the stored value, else the declared default."""
    columns = [(name, internal_name(view.name, name)) for name in feats]  # once per call
    for i, key in enumerate(keys):
        hit = found[key]
        for name, column in columns:
            value = None if hit is None else hit.values.get(name)
            if value is None:
                value = view.feature(name).default  # type: ignore[union-attr]
                if value is None:
                    missing.append(f"{view.name}:{name} for entity_rows[{i}] {key}")
            values[i][column] = value


def _check_rows(entity_rows: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    rows = list(entity_rows) if isinstance(entity_rows, Sequence) else []
    if not rows:
        raise InvalidInput("entity_rows must be a non-empty list of objects", field="entity_rows")
    for i, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise InvalidInput(f"entity_rows[{i}] must be an object", field=f"entity_rows[{i}]")
    return rows


def _request_rows(
    request_data: Sequence[Mapping[str, Any]] | Mapping[str, Any] | None,
    rows: list[Mapping[str, Any]],
) -> list[Mapping[str, Any]]:
    if request_data is None:
        return rows
    if isinstance(request_data, Mapping):
        return [{**row, **request_data} for row in rows]
    if len(request_data) != len(rows):
        raise InvalidInput("request_data must have one object per entity row", field="request_data")
    return [{**row, **data} for row, data in zip(rows, request_data, strict=True)]


def _entity_key(view: FeatureView, row: Mapping[str, Any], i: int) -> str:
    values = []
    for key, dtype in view.join_keys.items():
        field = f"entity_rows[{i}].{key}"
        if row.get(key) is None:
            raise InvalidInput(
                f"{field} is required ({dtype}) by feature view {view.name!r}", field=field
            )
        values.append(check_value(dtype, row[key], field))
    return entity_key(values)


def _run_on_demand(
    view: OnDemandView,
    rows: list[Mapping[str, Any]],
    requests: list[Mapping[str, Any]],
    values: list[dict[str, Any]],
) -> None:
    names = input_names(view)
    sources = [ref.replace(":", "__") for ref in view.inputs]
    for i in range(len(rows)):
        inputs = {n: values[i].get(s) for n, s in zip(names, sources, strict=False)}
        for field, dtype in view.request.items():
            where = f"request_data[{i}].{field}"
            if field not in requests[i]:
                raise InvalidInput(
                    f"{where} is required ({dtype}) by on-demand view {view.name!r}", field=where
                )
            inputs[field] = check_value(dtype, requests[i][field], where)
        outputs = run_row(view, inputs, f"entity_rows[{i}]")
        for name, value in outputs.items():
            values[i][internal_name(view.name, name)] = value


def _assemble(
    selection: Selection, rows: list[Mapping[str, Any]], values: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    keys = list(selection.join_keys)
    columns = [(o.column, o.internal) for o in selection.outputs]  # once per call, not per row
    return [
        {
            **{k: row.get(k) for k in keys},
            **{column: found.get(internal) for column, internal in columns},
        }
        for row, found in zip(rows, values, strict=True)
    ]
