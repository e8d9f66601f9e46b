"""The prediction log: a cheap ``record`` on the hot path, ``flush`` and queries elsewhere.

``record`` builds one small ``Entry`` of references and puts it in a bounded buffer;
that is all the predict path pays (a few microseconds, see ``docs/monitoring.md``).
``flush`` (blocking: call it from a thread, or let ``LogWriter`` do it) writes what is
queued through the sink; queries read the Parquet files with DuckDB, always within one
tenant's folder and filtered on its id.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, overload

import pyarrow as pa

from ailayer.core.errors import InvalidInput
from ailayer.features.files import Folder
from ailayer.monitoring.log.backend import LogBackend
from ailayer.monitoring.log.buffer import DEFAULT_CAPACITY_ROWS, Entry, LogBuffer
from ailayer.monitoring.log.journal import Journal
from ailayer.monitoring.log.layout import (
    days_between,
    days_of_ids,
    feedback_files,
    logged_endpoints,
    prediction_files,
    recent_days,
    scan,
)
from ailayer.monitoring.log.local import LocalBackend
from ailayer.monitoring.log.pii import SaltStore
from ailayer.monitoring.log.sink import SCHEMA, ParquetSink
from ailayer.serving.target import PredictionColumns, Target

logger = logging.getLogger("ailayer.monitoring")

MAX_WINDOW = timedelta(days=366)
QUERY_SCHEMA = SCHEMA.append(pa.field("endpoint", pa.string()))


class PredictionLog:
    def __init__(
        self,
        tenant_root: Callable[[str], Folder],
        salts: SaltStore,
        *,
        capacity_rows: int = DEFAULT_CAPACITY_ROWS,
        backend: LogBackend | None = None,
        journal: Journal | None = None,
    ) -> None:
        """``backend``: where staged entries go; by default written here (``LocalBackend``
        through a ``ParquetSink``, journaled in ``journal``)."""
        self.tenant_root = tenant_root
        self.buffer = LogBuffer(capacity_rows)
        self.backend: LogBackend = (
            backend
            if backend is not None
            else LocalBackend(ParquetSink(tenant_root, salts), journal)
        )
        self.written = 0
        self.failed = 0
        self._flush_lock = threading.Lock()  # one flush at a time
        self._stage_lock = threading.Lock()  # buffer → backend, in order

    @property
    def dropped(self) -> int:
        return self.buffer.dropped

    def record(
        self,
        tenant_id: str,
        target: Target,
        rows: list[dict] | None,
        predictions: list[dict[str, Any]] | None,
        started: float,
        raw: bytes | None = None,
        columns: PredictionColumns | None = None,
    ) -> bool:
        """Queue one answered request; False when the buffer was full (counted, dropped).
        ``raw``: the predict body ``rows`` were parsed from, if given (a log process is
        handed it as it is, instead of the rows encoded again). ``columns``: the same
        predictions by column, if the caller has them (saves the log taking them apart)."""
        latency_ms = (time.perf_counter() - started) * 1000.0
        entry = Entry(
            tenant_id,
            target,
            time.time_ns(),
            latency_ms,
            rows,
            predictions if columns is None else None,  # the columns say it all: not kept
            raw=raw,
            columns=columns,
        )
        return self.buffer.put(entry)

    def record_failure(
        self,
        tenant_id: str,
        target: Target,
        started: float,
        error: str,
        prediction_id: str | None = None,
    ) -> bool:
        """Queue one failed request, so error rates count it: ``error`` is its code (for a
        model error, the code and the model's message), under ``prediction_id`` when the
        caller was given one."""
        latency_ms = (time.perf_counter() - started) * 1000.0
        entry = Entry(
            tenant_id, target, time.time_ns(), latency_ms, None, None, error, prediction_id
        )
        return self.buffer.put(entry)

    def stage(self) -> None:
        """Move what is queued to the backend (blocking, cheap; ``LogWriter`` calls it
        every ``backend.stage_interval``, also while a flush writes), so a killed process
        loses nothing staged."""
        with self._stage_lock:
            entries = self.buffer.drain()
            if entries:
                self.failed += self.backend.stage(entries)

    def flush(self) -> int:
        """Write everything queued so far (blocking); returns the rows written.

        Serialized, so when it returns every entry queued before the call is on disk (or
        counted in ``failed``). A failing store never raises into the caller.
        """
        with self._flush_lock:
            self.stage()
            written, failed = self.backend.flush()
            self.written += written
            self.failed += failed
            return written

    def recover(self) -> int:
        """Store what processes that died left in their journals; the rows stored (with
        a log process: it starts, and replays them)."""
        return self.backend.recover()

    def close(self) -> None:
        """Write everything, then release the journal (or let the log process finish)."""
        with self._flush_lock:
            self.stage()
            written, failed = self.backend.close()
            self.written += written
            self.failed += failed

    def window_files(
        self, tenant_id: str, endpoint: str | None, start: datetime, end: datetime
    ) -> list[str]:
        """The log files that can hold ``endpoint``'s rows of ``[start, end)`` (by day)."""
        return prediction_files(self.tenant_root(tenant_id), endpoint, days_between(start, end))

    def endpoints(self, tenant_id: str) -> set[str]:
        """The endpoints ``tenant_id`` has anything logged for."""
        return logged_endpoints(self.tenant_root(tenant_id))

    def label_files(self, tenant_id: str) -> list[str]:
        """The tenant's feedback (label) files."""
        return feedback_files(self.tenant_root(tenant_id))

    def query(
        self,
        tenant_id: str,
        endpoint: str | None,
        start: datetime | None = None,
        end: datetime | None = None,
        *,
        as_pandas: bool = False,
    ) -> Any:
        """Logged rows of one tenant (one endpoint, or all) with ``start <= time < end``."""
        days = days_between(start, end) if start and end else None
        files = prediction_files(self.tenant_root(tenant_id), endpoint, days)
        table = self._select(tenant_id, files, start, end)
        return table.to_pandas() if as_pandas else table

    def _select(
        self, tenant_id: str, files: list[str], start: datetime | None, end: datetime | None
    ) -> pa.Table:
        if not files:
            return QUERY_SCHEMA.empty_table()
        where, params = time_filter(start, end)
        sql = (
            f"SELECT * EXCLUDE (date) FROM {scan(files)} WHERE tenant_id = ? {where} "
            "ORDER BY time, request_row"
        )
        con = self.connect(tenant_id)
        try:
            return con.sql(sql, params=[tenant_id, *params]).to_arrow_table()
        finally:
            con.close()

    def lookup(self, tenant_id: str, ids: Iterable[str]) -> dict[str, str]:
        """prediction id → logged prediction (JSON text) for those of ``ids`` in the log.

        Ids are time-ordered, so only the days they were made on (±1) are read.
        """
        wanted = sorted(set(ids))
        files = prediction_files(self.tenant_root(tenant_id), None, days_of_ids(wanted))
        if not files or not wanted:
            return {}
        sql = (
            f"SELECT prediction_id, prediction FROM {scan(files)} "
            "WHERE tenant_id = ? AND error IS NULL AND prediction_id IN (SELECT unnest(?))"
        )
        return dict(self.fetch_all(tenant_id, sql, [tenant_id, wanted]))

    def inputs(self, tenant_id: str, model: str, version: int, limit: int) -> list[str]:
        """The most recent logged inputs (JSON text) of one model version, up to ``limit``."""
        files = prediction_files(self.tenant_root(tenant_id), None, recent_days())
        if not files:
            return []
        sql = (
            f"SELECT features FROM {scan(files)} WHERE tenant_id = ? AND model = ? "
            "AND version = ? AND error IS NULL AND features IS NOT NULL "
            "ORDER BY time DESC LIMIT ?"
        )
        return [r[0] for r in self.fetch_all(tenant_id, sql, [tenant_id, model, version, limit])]

    def connect(self, tenant_id: str) -> Any:
        """A DuckDB connection that can read ``tenant_id``'s log files."""
        return self.tenant_root(tenant_id).connect()

    def fetch_all(self, tenant_id: str, sql: str, params: list[Any]) -> list[tuple]:
        """The rows of one query over ``tenant_id``'s log files, on a connection of its own."""
        con = self.connect(tenant_id)
        try:
            return con.execute(sql, params).fetchall()
        finally:
            con.close()


def window_bounds(
    start: datetime | None, end: datetime | None, span: timedelta, prefix: str = ""
) -> tuple[datetime, datetime]:
    """``[start, end)`` in UTC for a log query: ``end`` defaults to now and ``start`` to
    ``span`` before it; naive times are taken as UTC; an empty window, or one longer than
    ``MAX_WINDOW`` (whose day-by-day reads would hold a server for minutes), is refused.
    Errors name ``{prefix}start`` (e.g. ``reference_start``)."""
    end = as_utc(end) or datetime.now(UTC)
    start = as_utc(start) or end - span
    field = f"{prefix}start"
    if start >= end:
        raise InvalidInput(f"{field} must be before {prefix}end", field=field)
    if end - start > MAX_WINDOW:
        raise InvalidInput(
            f"a window spans at most {MAX_WINDOW.days} days; got {start:%Y-%m-%d} to {end:%Y-%m-%d}",
            field=field,
        )
    return start, end


@overload
def as_utc(value: datetime) -> datetime: ...
@overload
def as_utc(value: None) -> None: ...
def as_utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


def time_filter(start: datetime | None, end: datetime | None) -> tuple[str, list]:
    clauses, params = [], []
    if start is not None:
        clauses.append("AND time >= ?")
        params.append(start)
    if end is not None:
        clauses.append("AND time < ?")
        params.append(end)
    return " ".join(clauses), params
