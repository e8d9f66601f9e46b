"""Drift of a live endpoint: the logged inputs and scores of a window against each model
version's reference profile.

The window is read from the prediction log with DuckDB in chunks of ``chunk_rows`` rows
(only the version's inputs are pulled out of the JSON), each chunk is summarized on the
reference's bins and the summaries are merged, so memory stays bounded however large
the window. A window without predictions, or a version without a reference, gives a
report that says so; nothing raises but an unknown endpoint.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ailayer.core.clock import utcnow
from ailayer.core.errors import InvalidInput, NotFound
from ailayer.models.endpoints import EndpointService
from ailayer.models.service import ModelRegistry
from ailayer.models.version import ModelVersion
from ailayer.monitoring.drift import DriftReport, Profile, compare, profile
from ailayer.monitoring.drift.compare import DEFAULT_SHARE_BOUND
from ailayer.monitoring.drift.summary import (
    DEFAULT_BINS,
    CategoricalSummary,
    NumericSummary,
    quantile_edges,
)
from ailayer.monitoring.endpoint.references import SCORE, Inputs, Reference, ReferenceStore
from ailayer.monitoring.log.layout import json_pointer, scan
from ailayer.monitoring.log.predictions import (
    PredictionLog,
    time_filter,
    window_bounds,
)

DEFAULT_SPAN = timedelta(days=1)
CHUNK_ROWS = 100_000
MAX_LATEST = 1_000  # (tenant, endpoint, model, version) keys remembered for /metrics

VERSIONS_SQL = """
SELECT model, version, count(*) AS rows, min(time) AS first, max(time) AS last
FROM {log} WHERE tenant_id = ? AND error IS NULL AND features IS NOT NULL {where}
GROUP BY model, version ORDER BY model, version
"""

ROWS_SQL = """
SELECT json_extract_string(features, ?) AS inputs, score
FROM {log} WHERE tenant_id = ? AND error IS NULL AND features IS NOT NULL {versions} {where}
"""


@dataclass(frozen=True, slots=True)
class VersionDrift:
    """One model version's drift in a window, with the profiles the charts are drawn from."""

    model: str
    version: int
    start: datetime
    end: datetime
    rows: int
    report: DriftReport
    reference: Reference | None
    current: Profile | None
    reason: str | None = None

    def to_dict(self) -> dict:
        """model, version, start, end, rows, report (``DriftReport.to_dict()``; the score's
        drift is ``report["prediction"]``), reference (where it came from) and reason (why
        nothing was judged, if so)."""
        body = self.report.to_dict()
        if body["prediction"] is not None:
            body["prediction"]["name"] = "score"
        return {
            "model": self.model,
            "version": self.version,
            "start": self.start,
            "end": self.end,
            "rows": self.rows,
            "report": body,
            "reference": None if self.reference is None else self.reference.to_dict(),
            "reason": self.reason,
        }


class LatestDrift:
    """The latest report computed per (tenant, endpoint, model, version), for ``/metrics``.

    In memory and bounded: at most ``max_keys`` keys, the least recently updated
    forgotten first. Only reports against the stored reference are kept, so a scrape
    always means "this version's latest window vs its reference".
    """

    def __init__(self, max_keys: int = MAX_LATEST) -> None:
        self.max_keys = max_keys
        self._reports: OrderedDict[tuple[str, str, str, int], tuple[datetime, DriftReport]]
        self._reports = OrderedDict()
        self._lock = threading.Lock()

    def put(self, tenant_id: str, endpoint: str, item: VersionDrift) -> None:
        key = (tenant_id, endpoint, item.model, item.version)
        with self._lock:
            self._reports[key] = (item.end, item.report)
            self._reports.move_to_end(key)
            while len(self._reports) > self.max_keys:
                self._reports.popitem(last=False)

    def items(self) -> list[tuple[tuple[str, str, str, int], tuple[datetime, DriftReport]]]:
        """A snapshot: ((tenant, endpoint, model, version), (window end, report)) pairs."""
        with self._lock:
            return list(self._reports.items())


class EndpointDrift:
    def __init__(
        self,
        log: PredictionLog,
        registry: ModelRegistry,
        endpoints: EndpointService,
        references: ReferenceStore,
        *,
        chunk_rows: int = CHUNK_ROWS,
    ) -> None:
        self.log = log
        self.registry = registry
        self.endpoints = endpoints
        self.references = references
        self.chunk_rows = chunk_rows
        self.latest = LatestDrift()

    def report(
        self,
        tenant_id: str,
        endpoint: str,
        start: datetime | None = None,
        end: datetime | None = None,
        *,
        reference_start: datetime | None = None,
        reference_end: datetime | None = None,
    ) -> list[VersionDrift]:
        """One ``VersionDrift`` per model version seen in ``[start, end)`` (default: the
        last day), with the reference and current profiles the charts are drawn from;
        ``to_dict()`` is the API's JSON. With ``reference_start``/``reference_end`` the
        reference is that window of the endpoint's log instead of the stored one.
        """
        start, end = window_bounds(start, end, DEFAULT_SPAN)
        fixed = _optional_window(reference_start, reference_end)
        seen = self._versions(tenant_id, endpoint, start, end)
        if not seen:
            seen = [(*self._serving(tenant_id, endpoint), 0)]
        found = [
            self._version(tenant_id, endpoint, model, version, rows, start, end, fixed)
            for model, version, rows in seen
        ]
        if fixed is None:  # against the stored reference: what /metrics exports
            for item in found:
                self.latest.put(tenant_id, endpoint, item)
        return found

    def store_log_reference(
        self,
        tenant_id: str,
        endpoint: str,
        model: str,
        version: int,
        start: datetime,
        end: datetime,
    ) -> Reference:
        """Store ``[start, end)`` of the endpoint's log as the version's reference."""
        start, end = window_bounds(start, end, DEFAULT_SPAN)
        row = self.registry.get_version(tenant_id, model, version)
        built = self._log_reference(tenant_id, endpoint, row, start, end)
        origin = {"endpoint": endpoint, "start": start.isoformat(), "end": end.isoformat()}
        built = replace(built, origin=origin)
        return self.references.put_profile(tenant_id, model, version, built, source="log")

    def _version(
        self,
        tenant_id: str,
        endpoint: str,
        model: str,
        version: int,
        rows: int,
        start: datetime,
        end: datetime,
        fixed: tuple[datetime, datetime] | None,
    ) -> VersionDrift:
        row = self.registry.get_version(tenant_id, model, version)
        try:
            reference = self._reference(tenant_id, endpoint, row, fixed)
        except InvalidInput as exc:
            reference, missing = None, f"no usable reference for {model} v{version}: {exc.message}"
        else:
            missing = None if reference else _no_reference(model, version)
        if reference is None:
            empty = DriftReport((), None, None, DEFAULT_SHARE_BOUND, 0, rows, reason=missing)
            return VersionDrift(model, version, start, end, rows, empty, None, None, missing)
        current = self._profile(tenant_id, endpoint, row, reference.profile, start, end)
        judged = compare(reference.profile, current, prediction=SCORE)
        reason = None if rows else f"no predictions of {model} v{version} in the window"
        return VersionDrift(model, version, start, end, rows, judged, reference, current, reason)

    def _reference(
        self,
        tenant_id: str,
        endpoint: str,
        row: ModelVersion,
        fixed: tuple[datetime, datetime] | None,
    ) -> Reference | None:
        if fixed is None:
            return self.references.get(tenant_id, row.model, row.version)
        built = self._log_reference(tenant_id, endpoint, row, *fixed)
        if built.rows == 0:
            raise InvalidInput("the reference window has no predictions", field="reference_start")
        return Reference(row.model, row.version, built, built.rows, "log", "", utcnow())

    def _profile(
        self,
        tenant_id: str,
        endpoint: str,
        row: ModelVersion,
        reference: Profile,
        start: datetime,
        end: datetime,
    ) -> Profile:
        """The window's profile on the reference's bins, merged chunk by chunk."""
        inputs = Inputs.of(row)
        names = [n for n in reference.features if n != SCORE]
        chunks = self._chunks(tenant_id, endpoint, row, inputs, names, start, end)
        merged = profile(_empty(reference), reference=reference)
        for chunk in chunks:
            merged = merged.merge(profile(chunk[list(reference.features)], reference=reference))
        return merged

    def _log_reference(
        self, tenant_id: str, endpoint: str, row: ModelVersion, start: datetime, end: datetime
    ) -> Profile:
        """A reference from a log window in two bounded passes: the merged unbinned
        summaries give the quantile bins, then every chunk is counted into them."""
        inputs = Inputs.of(row)
        kinds = {n: ("categorical" if n in inputs.categorical else "numeric") for n in inputs.names}
        kinds[SCORE] = "numeric"
        unbinned = _shell(kinds, {n: np.empty(0) for n in kinds})
        draft = self._profile(tenant_id, endpoint, row, unbinned, start, end)
        edges = {
            name: quantile_edges(s.values, s.weights, DEFAULT_BINS)
            for name, s in draft.features.items()
            if isinstance(s, NumericSummary)
        }
        return self._profile(tenant_id, endpoint, row, _shell(kinds, edges), start, end)

    def _versions(
        self, tenant_id: str, endpoint: str, start: datetime, end: datetime
    ) -> list[tuple[str, int, int]]:
        files = self.log.window_files(tenant_id, endpoint, start, end)
        if not files:
            return []
        where, params = time_filter(start, end)
        sql = VERSIONS_SQL.format(log=scan(files), where=where)
        found = self.log.fetch_all(tenant_id, sql, [tenant_id, *params])
        return [(model, version, rows) for model, version, rows, _, _ in found]

    def _serving(self, tenant_id: str, endpoint: str) -> tuple[str, int]:
        """The version behind the endpoint now (for a report on an empty window)."""
        model, alias = self.endpoints.target(tenant_id, endpoint)
        try:
            version = self.registry.resolve_alias(tenant_id, model, alias)
        except NotFound as exc:
            raise NotFound(
                f"unknown endpoint {endpoint!r}: nothing logged in the window and no model "
                f"version serves it ({exc.message})"
            ) from None
        return model, version.version

    def _chunks(
        self,
        tenant_id: str,
        endpoint: str,
        row: ModelVersion,
        inputs: Inputs,
        names: list[str],
        start: datetime,
        end: datetime,
    ) -> Iterator[pd.DataFrame]:
        files = self.log.window_files(tenant_id, endpoint, start, end)
        if not files:
            return
        where, params = time_filter(start, end)
        sql = ROWS_SQL.format(
            log=scan(files), versions="AND model = ? AND version = ?", where=where
        )
        paths = [json_pointer(n) for n in names]
        con = self.log.connect(tenant_id)
        try:
            params = [paths, tenant_id, row.model, row.version, *params]
            for batch in con.sql(sql, params=params).to_arrow_reader(self.chunk_rows):
                yield _frame(batch, names, inputs)
        finally:
            con.close()


def _optional_window(
    start: datetime | None, end: datetime | None
) -> tuple[datetime, datetime] | None:
    """A reference window from the log, if either bound is given: a missing end is now,
    a missing start one ``DEFAULT_SPAN`` before the end (as for the current window)."""
    if start is None and end is None:
        return None
    return window_bounds(start, end, DEFAULT_SPAN, prefix="reference_")


def _no_reference(model: str, version: int) -> str:
    return (
        f"no reference profile for {model} v{version}: store one with "
        f"`ailayer reference {model} {version} FILE` (or a log window with --start/--end), "
        "or register the version with a dataset_version"
    )


def _frame(batch: pa.RecordBatch, names: list[str], inputs: Inputs) -> pd.DataFrame:
    """One chunk of logged rows as columns: numbers as float (NaN when missing or not a
    number), booleans as "True"/"False" (as pandas names them), other categories as text."""
    flat = batch.column(0).flatten()
    width = len(names)
    columns: dict[str, object] = {}
    for index, name in enumerate(names):
        values = flat.take(pa.array(np.arange(index, len(flat), width)))
        if name in inputs.categorical:
            columns[name] = _category(values, name in inputs.boolean)
        else:
            columns[name] = _number(values)
    columns[SCORE] = batch.column(1).to_numpy(zero_copy_only=False).astype(float)
    return pd.DataFrame(columns)


def _number(values: pa.Array) -> np.ndarray:
    try:
        return pc.cast(values, pa.float64()).to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        text = pd.Series(values.to_numpy(zero_copy_only=False), dtype=object)
        return pd.to_numeric(text, errors="coerce").to_numpy(dtype=float)


def _category(values: pa.Array, boolean: bool) -> pd.Series:
    series = pd.Series(values.to_numpy(zero_copy_only=False), dtype=object)
    if boolean:
        series = series.map({"true": "True", "false": "False"})
    return series


def _empty(reference: Profile) -> dict[str, list]:
    return {name: [] for name in reference.features}


def _shell(kinds: dict[str, str], edges: dict[str, np.ndarray]) -> Profile:
    """An empty profile that only carries kinds and bin edges, to summarize windows on."""
    features: dict[str, CategoricalSummary | NumericSummary] = {}
    for name, kind in kinds.items():
        if kind == "categorical":
            features[name] = CategoricalSummary({}, 0)
            continue
        cuts = edges[name]
        features[name] = NumericSummary(
            values=np.empty(0),
            weights=np.empty(0),
            edges=cuts,
            hist=np.zeros(len(cuts) + 1, dtype=np.int64),
            count=0,
            missing=0,
            mean=0.0,
            std=0.0,
            exact=True,
        )
    return Profile(0, features)
