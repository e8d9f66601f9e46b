"""Materialization: the latest value per entity, from the offline store to the online store.

A run covers a window of event times for one view. Its rows (the latest per entity in
the window) go out in batches ordered by join keys. After each batch is written to the
online store, the run's cursor (the last keys written) is saved in the metadata DB; only
when the whole window is written does the view's watermark move. After a crash, the
same window — or ``incremental``, which first finishes any interrupted run — resumes
after the cursor. Online writes are newer-wins and idempotent, so a batch written twice
(crash between the write and the cursor save) changes nothing, and nothing is skipped.

One materializer per view at a time is assumed (the scheduler runs them); two at once
stay correct, only wasteful.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from ailayer.core.clock import utcnow
from ailayer.core.errors import InvalidInput
from ailayer.db.engine import Database
from ailayer.features.catalog import storage_name
from ailayer.features.definitions import FeatureView
from ailayer.features.definitions_store import FeatureRegistry
from ailayer.features.erased import erased_rows
from ailayer.features.offline import OfflineStore
from ailayer.features.sources import literal, quote
from ailayer.features.stores.online import OnlineRow, OnlineStore, entity_key
from ailayer.features.tables import feature_materializations as state
from ailayer.governance.privacy.tombstones import Tombstones

DEFAULT_BATCH_SIZE = 10_000


@dataclass(frozen=True)
class Progress:
    """Reported after each batch is durably written (a CLI draws a bar from it)."""

    view: str
    version: int
    rows_done: int
    rows_total: int


@dataclass(frozen=True)
class Run:
    view: str
    version: int
    start: datetime | None
    end: datetime
    rows: int
    resumed: bool


ProgressCallback = Callable[[Progress], None]


class Materializer:
    def __init__(
        self,
        db: Database,
        registry: FeatureRegistry,
        offline: OfflineStore,
        online: OnlineStore,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        clock: Callable[[], datetime] = utcnow,
        tombstones: Tombstones | None = None,
    ) -> None:
        """``tombstones``: subjects erased by privacy requests, never written online."""
        self.tombstones = tombstones
        self.db = db
        self.registry = registry
        self.offline = offline
        self.online = online
        self.batch_size = batch_size
        self.clock = clock

    def materialize(
        self,
        tenant_id: str,
        views: Iterable[str] | None,
        start: datetime,
        end: datetime,
        *,
        progress: ProgressCallback | None = None,
    ) -> list[Run]:
        """Materialize ``start <= event time <= end`` for the named views (None: all)."""
        start, end = _utc(start, "start"), _utc(end, "end")
        if start > end:
            raise InvalidInput("start must not be after end", field="start")
        return [
            self._run(tenant_id, v, start, end, progress) for v in self._views(tenant_id, views)
        ]

    def incremental(
        self,
        tenant_id: str,
        views: Iterable[str] | None = None,
        end: datetime | None = None,
        *,
        allowed_lateness: timedelta = timedelta(0),
        progress: ProgressCallback | None = None,
    ) -> list[Run]:
        """Finish any interrupted run, then materialize from each watermark up to ``end``
        (default now). ``allowed_lateness`` re-reads that much before the watermark, for
        sources whose rows arrive late."""
        end = _utc(end or self.clock(), "end")
        runs = []
        for view in self._views(tenant_id, views):
            current = self._state(tenant_id, view)
            if current and current["run_end"] is not None:
                runs.append(
                    self._run(tenant_id, view, current["run_start"], current["run_end"], progress)
                )
                current = self._state(tenant_id, view)
            mark = current["watermark"] if current else None
            start = None if mark is None else mark - allowed_lateness
            if mark is None or mark < end:
                runs.append(self._run(tenant_id, view, start, end, progress))
        return runs

    def watermarks(self, tenant_id: str) -> dict[str, datetime | None]:
        with self.db.read() as conn:
            rows = conn.execute(select(state).where(state.c.tenant_id == tenant_id))
            return {f"{r.view}@{r.version}": r.watermark for r in rows}

    def _views(self, tenant_id: str, names: Iterable[str] | None) -> list[FeatureView]:
        catalog = self.registry.catalog(tenant_id)
        if names is None:
            return list(catalog.views.values())
        wanted = list(names)
        unknown = [n for n in wanted if n not in catalog.views]
        if unknown:
            raise InvalidInput(f"unknown feature views: {', '.join(unknown)}", field="views")
        return [catalog.views[n] for n in wanted]

    # one run -----------------------------------------------------------------
    def _run(
        self,
        tenant_id: str,
        view: FeatureView,
        start: datetime | None,
        end: datetime,
        progress: ProgressCallback | None,
    ) -> Run:
        cursor, done, resumed = self._begin(tenant_id, view, start, end)
        con = self.offline.tenant_root(tenant_id).connect()
        try:
            total = done + self._stage(con, tenant_id, view, start, end, cursor)
            reader = con.sql("SELECT * FROM latest ORDER BY " + _key_list(view)).to_arrow_reader(
                self.batch_size
            )
            for batch in reader:
                if batch.num_rows == 0:
                    continue
                cursor = self._write(tenant_id, view, batch)
                done += batch.num_rows
                self._advance(tenant_id, view, cursor, done)
                if progress is not None:
                    progress(Progress(view.name, view.version, done, total))
        finally:
            con.close()
        self._finish(tenant_id, view, start, end)
        return Run(view.name, view.version, start, end, done, resumed)

    def _stage(
        self,
        con: Any,
        tenant_id: str,
        view: FeatureView,
        start: datetime | None,
        end: datetime,
        cursor: list[Any] | None,
    ) -> int:
        """Put the rows still to write in a temp table; return how many there are. The
        latest row per entity comes from the offline store's engine (DuckDB or Spark)."""
        if view.ttl is not None:
            fresh_from = self.clock() - view.ttl  # older rows would read as missing anyway
            start = fresh_from if start is None else max(start, fresh_from)
        reader = self.offline.reader(tenant_id)
        latest = self.offline.engine.latest(con, reader, view, start, end)
        conditions = [f"{quote(k)} IS NOT NULL" for k in view.join_keys]
        if cursor:
            conditions.append(_after(view, cursor))
        where = "WHERE " + " AND ".join(conditions)
        con.execute(f"CREATE TEMP TABLE latest AS SELECT * FROM ({latest}) {where}")
        return con.execute("SELECT count(*) FROM latest").fetchall()[0][0]

    def _write(self, tenant_id: str, view: FeatureView, batch: pa.RecordBatch) -> list[Any]:
        keys = list(view.join_keys)
        names = [f.name for f in view.features]  # type: ignore[union-attr]
        records = batch.to_pylist()
        key_values = [[record[k] for k in keys] for record in records]
        skipped = erased_rows(self.tombstones, tenant_id, keys, key_values)
        rows = []
        for index, record in enumerate(records):
            if index in skipped:
                continue
            values = {n: record[n] for n in names}
            ts = record["__ts"].replace(tzinfo=UTC)
            rows.append(OnlineRow(entity_key(key_values[index]), ts, values))
        self.online.write_batch(tenant_id, storage_name(view), rows, view.ttl)
        last = records[-1]
        return [last[k] for k in keys]

    # state in the metadata DB --------------------------------------------------
    def _state(self, tenant_id: str, view: FeatureView) -> dict[str, Any] | None:
        with self.db.read() as conn:
            row = conn.execute(select(state).where(*_where(tenant_id, view))).first()
        return dict(row._mapping) if row else None

    def _begin(
        self, tenant_id: str, view: FeatureView, start: datetime | None, end: datetime
    ) -> tuple[list[Any] | None, int, bool]:
        """Resume the interrupted run of this same window, or start a new one."""
        with self.db.write() as conn:
            insert = pg_insert if self.db.dialect == "postgresql" else sqlite_insert
            conn.execute(
                insert(state)
                .values(
                    tenant_id=tenant_id,
                    view=view.name,
                    version=view.version,
                    run_rows=0,
                    updated_at=utcnow(),
                )
                .on_conflict_do_nothing(index_elements=["tenant_id", "view", "version"])
            )
            row = conn.execute(select(state).where(*_where(tenant_id, view))).one()
            if row.run_end is not None and row.run_start == start and row.run_end == end:
                return row.run_cursor, row.run_rows, True
            conn.execute(
                update(state)
                .where(*_where(tenant_id, view))
                .values(
                    run_start=start, run_end=end, run_cursor=None, run_rows=0, updated_at=utcnow()
                )
            )
        return None, 0, False

    def _advance(self, tenant_id: str, view: FeatureView, cursor: list[Any], rows: int) -> None:
        with self.db.write() as conn:
            conn.execute(
                update(state)
                .where(*_where(tenant_id, view))
                .values(run_cursor=cursor, run_rows=rows, updated_at=utcnow())
            )

    def _finish(
        self, tenant_id: str, view: FeatureView, start: datetime | None, end: datetime
    ) -> None:
        """Move the watermark to ``end`` if the run joined up with it (no gap left behind)."""
        with self.db.write() as conn:
            mark = conn.execute(select(state.c.watermark).where(*_where(tenant_id, view))).scalar()
            contiguous = mark is None or start is None or start <= mark
            new_mark = (
                max(end, mark) if mark is not None and contiguous else (end if contiguous else mark)
            )
            conn.execute(
                update(state)
                .where(*_where(tenant_id, view))
                .values(
                    watermark=new_mark,
                    run_start=None,
                    run_end=None,
                    run_cursor=None,
                    updated_at=utcnow(),
                )
            )


def _where(tenant_id: str, view: FeatureView) -> list[Any]:
    return [
        state.c.tenant_id == tenant_id,
        state.c.view == view.name,
        state.c.version == view.version,
    ]


def _utc(value: datetime, field: str) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise InvalidInput(f"{field} must be a timezone-aware datetime", field=field)
    return value.astimezone(UTC)


def _key_list(view: FeatureView) -> str:
    return ", ".join(quote(k) for k in view.join_keys)


def _after(view: FeatureView, cursor: list[Any]) -> str:
    """Rows whose key tuple sorts after ``cursor`` (keyset pagination)."""
    values = ", ".join(literal(v) if isinstance(v, str) else str(int(v)) for v in cursor)
    return f"({_key_list(view)}) > ({values})"
