"""Pre-aggregated windows of the prediction log, so pages and charts never scan raw rows.

The log is Parquet parts (``layout.py``); a console page that read them per request would
take seconds on a million rows. ``LogRollup`` folds the parts written since its mark into
``log_rollups``: one row per tenant, endpoint, model, version, alias (the rollout
variant) and ``BUCKET_SECONDS`` bucket of the rows' own time, holding

- ``requests`` (rows with ``request_row = 0``: a request of 50 records counts once),
  ``predictions`` (answered rows), ``errors`` (failed requests' rows), as
  ``variant_stats.py`` counts them;
- the answered requests' latency: count, sum and a histogram on fixed log-spaced bins
  (``latency_bin``: eight per doubling from ``LATENCY_BASE_MS``) that merges by adding,
  so a p99 over any set of buckets is read from the sum of theirs, within one bin
  (about 9 %) of the exact value;
- the score's count, sum, sum of squares, minimum and maximum (mean and spread over time).

Which parts are new is read from their names: a part is ``part-<id>.parquet`` and an id's
first 12 hex digits are the milliseconds it was made at, just before the file was written
whole. Each pass takes the parts whose id time is in ``[mark, now - GRACE)`` (a part
still being written is younger than ``GRACE``), adds them to the rows and moves the
tenant's mark in **one** transaction, the mark moved by compare-and-set: a pass that
fails applies nothing, a rerun or a second replica applies nothing twice. Rows keep
their own time's bucket, so a part replayed from a journal hours late still lands where
its rows belong. Parts rewritten in place by a privacy erasure keep their name and are
not counted again (the aggregates hold no subject's values).
"""

from __future__ import annotations

import logging
import math
import re
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import and_, func, insert, select, tuple_, update

from ailayer.db.engine import Database
from ailayer.db.tables import log_rollup_marks, log_rollups
from ailayer.db.tenants import tenant_ids
from ailayer.features.files import Folder
from ailayer.monitoring.log.layout import days_between, prediction_files, scan

logger = logging.getLogger("ailayer.monitoring")

BUCKET_SECONDS = 300
GRACE = timedelta(seconds=60)
LATENCY_BASE_MS = 0.01
BINS_PER_DOUBLING = 8
LATENCY_BINS = 8 * 24  # up to 0.01 ms * 2**24 ≈ 168 s; slower requests share the last bin
PART_NAME = re.compile(r"/part-([0-9a-f]{12})[0-9a-f]{20}\.parquet$")

AGGREGATE_SQL = f"""
SELECT endpoint, model, version, coalesce(alias, '') AS alias,
       CAST(floor(epoch(time) / {BUCKET_SECONDS}) AS BIGINT) * {BUCKET_SECONDS} AS bucket,
       count(*) FILTER (WHERE request_row = 0) AS requests,
       count(*) FILTER (WHERE error IS NULL) AS predictions,
       count(*) FILTER (WHERE error IS NOT NULL) AS errors,
       count(*) FILTER (WHERE request_row = 0 AND error IS NULL) AS answered,
       coalesce(sum(latency_ms) FILTER (WHERE request_row = 0 AND error IS NULL), 0)
           AS latency_sum,
       count(score) FILTER (WHERE isfinite(score)) AS scores,
       coalesce(sum(score) FILTER (WHERE isfinite(score)), 0) AS score_sum,
       coalesce(sum(score * score) FILTER (WHERE isfinite(score)), 0) AS score_sumsq,
       min(score) FILTER (WHERE isfinite(score)) AS score_min,
       max(score) FILTER (WHERE isfinite(score)) AS score_max
FROM {{log}} WHERE tenant_id = ?
GROUP BY ALL
"""

HISTOGRAM_SQL = f"""
SELECT endpoint, model, version, coalesce(alias, '') AS alias,
       CAST(floor(epoch(time) / {BUCKET_SECONDS}) AS BIGINT) * {BUCKET_SECONDS} AS bucket,
       least(greatest(CAST(floor(log2(least(greatest(latency_ms, {LATENCY_BASE_MS}), 1e12) /
           {LATENCY_BASE_MS}) * {BINS_PER_DOUBLING}) AS INTEGER), 0), {LATENCY_BINS - 1}) AS bin,
       count(*) AS n
FROM {{log}} WHERE tenant_id = ? AND request_row = 0 AND error IS NULL
  AND NOT isnan(latency_ms)
GROUP BY ALL
"""

Key = tuple[str, str, int, str, int]  # endpoint, model, version, alias, bucket start
SUMS = ("requests", "predictions", "errors", "answered", "latency_sum", "scores", "score_sum")


def latency_bin(latency_ms: float) -> int:
    """The histogram bin of one latency, as the aggregation query computes it."""
    if math.isnan(latency_ms):
        raise ValueError("latency_ms is NaN")
    ratio = min(max(latency_ms, LATENCY_BASE_MS), 1e12) / LATENCY_BASE_MS
    return min(max(math.floor(math.log2(ratio) * BINS_PER_DOUBLING), 0), LATENCY_BINS - 1)


def bin_upper_ms(index: int) -> float:
    """The upper edge of a latency bin (what a quantile in that bin is reported as)."""
    return LATENCY_BASE_MS * 2 ** ((index + 1) / BINS_PER_DOUBLING)


def quantile_ms(histogram: dict[int, int], q: float) -> float | None:
    """The ``q`` quantile of a merged latency histogram: the upper edge of the bin the
    ``q``-th request falls in (never below the exact value, at most one bin above);
    ``None`` for no requests."""
    total = sum(histogram.values())
    if total <= 0:
        return None
    rank = max(math.ceil(q * total), 1)
    seen = 0
    for index in sorted(histogram):
        seen += histogram[index]
        if seen >= rank:
            return bin_upper_ms(index)
    return bin_upper_ms(max(histogram))


def merge_histograms(histograms: Iterable[dict[int, int]]) -> dict[int, int]:
    merged: dict[int, int] = {}
    for histogram in histograms:
        add_counts(merged, histogram)
    return merged


def add_counts(into: dict[int, int], histogram: dict[int, int]) -> None:
    """Add ``histogram``'s counts into ``into``, bin by bin."""
    for index, count in histogram.items():
        into[index] = into.get(index, 0) + count


def decode_histogram(text: str | bytes | None) -> dict[int, int]:
    """A stored histogram (JSON ``[bin, count, bin, count, ...]``) as ``{bin: count}``."""
    if not text:
        return {}
    flat = orjson.loads(text)
    return dict(zip(flat[::2], flat[1::2], strict=True))


@dataclass
class Window:
    """The sums of a set of rollup rows (e.g. one endpoint's last hour)."""

    requests: int = 0
    predictions: int = 0
    errors: int = 0
    answered: int = 0
    latency_sum: float = 0.0
    scores: int = 0
    score_sum: float = 0.0
    histogram: dict[int, int] = field(default_factory=dict)

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.requests if self.requests else None

    @property
    def p99_ms(self) -> float | None:
        return quantile_ms(self.histogram, 0.99)

    @property
    def mean_latency_ms(self) -> float | None:
        return self.latency_sum / self.answered if self.answered else None

    @property
    def mean_score(self) -> float | None:
        return self.score_sum / self.scores if self.scores else None


@dataclass(frozen=True)
class Pass:
    """What one pass did for one tenant."""

    tenant_id: str
    parts: int
    rows: int  # rollup rows added to or created


class LogRollup:
    """Keeps ``log_rollups`` up to date from the log's parts, and reads it."""

    def __init__(
        self, db: Database, tenant_root: Callable[[str], Folder], grace: timedelta = GRACE
    ) -> None:
        """``grace``: how old a part must be to be counted (older than any write lasts)."""
        self.db = db
        self.tenant_root = tenant_root
        self.grace = grace
        self.passes = 0
        self.failures = 0

    # -- writing ---------------------------------------------------------------------------

    def run_once(self, now: datetime | None = None) -> list[Pass]:
        """One pass over every tenant."""
        now = now or datetime.now(UTC)
        done = [self.run_tenant(tenant_id, now) for tenant_id in tenant_ids(self.db)]
        self.passes += 1
        return done

    def run_tenant(self, tenant_id: str, now: datetime | None = None) -> Pass:
        """Fold the tenant's parts written since its mark into its rollup rows."""
        now = now or datetime.now(UTC)
        with self.db.read() as conn:
            mark = conn.execute(
                select(log_rollup_marks.c.mark).where(log_rollup_marks.c.tenant_id == tenant_id)
            ).scalar()
        start = int(mark) if mark is not None else 0
        end = int((now - self.grace).timestamp() * 1000)
        if end <= start:
            return Pass(tenant_id, 0, 0)
        files = self.new_parts(tenant_id, start, end)
        sums, histograms = self._aggregate(tenant_id, files) if files else ({}, {})
        with self.db.write() as conn:
            if not self._move_mark(conn, tenant_id, mark, end, now):
                return Pass(tenant_id, 0, 0)  # another pass got there first: its rows count
            changed = self._apply(conn, tenant_id, sums, histograms)
        return Pass(tenant_id, len(files), changed)

    def new_parts(
        self,
        tenant_id: str,
        start_ms: int,
        end_ms: int,
        *,
        endpoint: str | None = None,
        days: Iterable[date] | None = None,
    ) -> list[str]:
        """The tenant's log parts whose id was made in ``[start_ms, end_ms)`` (of one
        endpoint, or all; in the given day folders, or all)."""
        found = prediction_files(self.tenant_root(tenant_id), endpoint, days)
        chosen = []
        for location in found:
            match = PART_NAME.search(location)
            if match is not None and start_ms <= int(match.group(1), 16) < end_ms:
                chosen.append(location)
        return sorted(chosen)

    def _aggregate(
        self, tenant_id: str, files: list[str]
    ) -> tuple[dict[Key, dict[str, Any]], dict[Key, dict[int, int]]]:
        con = self.tenant_root(tenant_id).connect()
        try:
            log = scan(files)
            cursor = con.execute(AGGREGATE_SQL.format(log=log), [tenant_id])
            names = [d[0] for d in cursor.description]
            sums: dict[Key, dict[str, Any]] = {}
            for row in cursor.fetchall():
                values = dict(zip(names, row, strict=True))
                key = tuple(
                    values.pop(n) for n in ("endpoint", "model", "version", "alias", "bucket")
                )
                sums[key] = values  # type: ignore[index]
            histograms: dict[Key, dict[int, int]] = {}
            for *key, index, n in con.execute(
                HISTOGRAM_SQL.format(log=log), [tenant_id]
            ).fetchall():
                histograms.setdefault(tuple(key), {})[int(index)] = int(n)  # type: ignore[arg-type]
        finally:
            con.close()
        return sums, histograms

    def _move_mark(
        self, conn: Any, tenant_id: str, seen: int | None, end: int, now: datetime
    ) -> bool:
        if seen is None:
            exists = conn.execute(
                select(log_rollup_marks.c.mark).where(log_rollup_marks.c.tenant_id == tenant_id)
            ).first()
            if exists is not None:
                return False
            conn.execute(
                insert(log_rollup_marks).values(tenant_id=tenant_id, mark=end, updated_at=now)
            )
            return True
        moved = conn.execute(
            update(log_rollup_marks)
            .where(log_rollup_marks.c.tenant_id == tenant_id, log_rollup_marks.c.mark == seen)
            .values(mark=end, updated_at=now)
        )
        return moved.rowcount == 1

    def _apply(
        self,
        conn: Any,
        tenant_id: str,
        sums: dict[Key, dict[str, Any]],
        histograms: dict[Key, dict[int, int]],
    ) -> int:
        if not sums:
            return 0
        t = log_rollups.c
        key_columns = (t.endpoint, t.model, t.version, t.alias, t.bucket)
        existing: dict[Key, Any] = {}
        keys = list(sums)
        for chunk in range(0, len(keys), 500):
            rows = conn.execute(
                select(log_rollups).where(
                    t.tenant_id == tenant_id, tuple_(*key_columns).in_(keys[chunk : chunk + 500])
                )
            ).all()
            existing |= {(r.endpoint, r.model, r.version, r.alias, r.bucket): r for r in rows}
        fresh = []
        for key, values in sums.items():
            histogram = histograms.get(key, {})
            old = existing.get(key)
            if old is None:
                fresh.append(_row(tenant_id, key, values, histogram))
                continue
            merged = {name: getattr(old, name) + values[name] for name in SUMS}
            merged["score_sumsq"] = old.score_sumsq + values["score_sumsq"]
            merged["score_min"] = _extreme(min, old.score_min, values["score_min"])
            merged["score_max"] = _extreme(max, old.score_max, values["score_max"])
            merged["latency_histogram"] = _encode(
                merge_histograms([decode_histogram(old.latency_histogram), histogram])
            )
            conn.execute(
                update(log_rollups)
                .where(
                    t.tenant_id == tenant_id,
                    *[c == v for c, v in zip(key_columns, key, strict=True)],
                )
                .values(**merged)
            )
        if fresh:
            conn.execute(insert(log_rollups), fresh)
        return len(sums)

    # -- reading ---------------------------------------------------------------------------

    def windows(
        self,
        tenant_id: str,
        start: datetime,
        end: datetime,
        *,
        by: Sequence[str] = ("endpoint",),
        endpoint: str | None = None,
    ) -> dict[tuple, Window]:
        """Sums over ``[start, end)`` (whole buckets whose start is in it), grouped by
        ``by`` (names among endpoint, model, version, alias)."""
        t = log_rollups.c
        group = [getattr(t, name) for name in by]
        conditions = _within(tenant_id, start, end, endpoint)
        query = select(*group, *[func.sum(getattr(t, name)) for name in SUMS]).where(
            and_(*conditions)
        )
        query = query.group_by(*group) if group else query
        windows: dict[tuple, Window] = {}
        with self.db.read() as conn:
            for row in conn.execute(query).all():
                key = tuple(row[: len(group)])
                values = row[len(group) : len(group) + len(SUMS)]
                windows[key] = Window(*[v or 0 for v in values])
            for row in conn.execute(
                select(*group, t.latency_histogram).where(and_(*conditions), t.answered > 0)
            ).all():
                add_counts(windows[tuple(row[: len(group)])].histogram, decode_histogram(row[-1]))
        return windows

    def live_windows(
        self,
        tenant_id: str,
        start: datetime,
        end: datetime,
        *,
        by: Sequence[str] = ("endpoint",),
        endpoint: str | None = None,
    ) -> dict[tuple, Window]:
        """``windows``, plus the parts written since the tenant's mark (not folded in yet,
        at most a grace period and an interval of them) aggregated here: up to the
        second, still without reading the log's older parts. Only the day folders from
        the day before the mark on are looked at (a journal replayed with older rows is
        counted once the next pass folds it in). Before the first pass every part
        counts as new (correct, only slower)."""
        found = self.windows(tenant_id, start, end, by=by, endpoint=endpoint)
        mark = self.mark(tenant_id)
        since = 0 if mark is None else int(mark.timestamp() * 1000)
        days = None
        if mark is not None:  # new parts hold recent rows: the day folders since the mark's eve
            days = days_between(mark - timedelta(days=1), datetime.now(UTC))
        files = self.new_parts(tenant_id, since, 2**62, endpoint=endpoint, days=days)
        if not files:
            return found
        sums, histograms = self._aggregate(tenant_id, files)
        low, high = _seconds(start), _seconds(end)
        names = ("endpoint", "model", "version", "alias", "bucket")
        for key, values in sums.items():
            if not low <= key[4] < high:
                continue
            named = dict(zip(names, key, strict=True))
            group = tuple(named[n] for n in by)
            window = found.setdefault(group, Window())
            for name in SUMS:
                setattr(window, name, getattr(window, name) + values[name])
            add_counts(window.histogram, histograms.get(key, {}))
        return found

    def series(
        self,
        tenant_id: str,
        start: datetime,
        end: datetime,
        *,
        step_seconds: int,
        endpoint: str | None = None,
        by: Sequence[str] = (),
    ) -> dict[tuple, list[tuple[datetime, Window]]]:
        """Sums per ``step_seconds`` step (a multiple of ``BUCKET_SECONDS``) over ``[start,
        end)``, per ``by`` group: what a chart over time draws. Steps with no rows are
        left out."""
        if step_seconds <= 0 or step_seconds % BUCKET_SECONDS:
            raise ValueError(f"step_seconds must be a multiple of {BUCKET_SECONDS}")
        t = log_rollups.c
        step = (t.bucket // step_seconds) * step_seconds  # integer division on both databases
        group = [getattr(t, name) for name in by]
        conditions = _within(tenant_id, start, end, endpoint)
        out: dict[tuple, dict[int, Window]] = {}
        with self.db.read() as conn:
            rows = conn.execute(
                select(*group, step.label("step"), *[func.sum(getattr(t, n)) for n in SUMS])
                .where(and_(*conditions))
                .group_by(*group, step)
            ).all()
            for row in rows:
                key = tuple(row[: len(group)])
                at = int(row[len(group)])
                out.setdefault(key, {})[at] = Window(*[v or 0 for v in row[len(group) + 1 :]])
            for row in conn.execute(
                select(*group, t.bucket, t.latency_histogram).where(
                    and_(*conditions), t.answered > 0
                )
            ).all():
                key = tuple(row[: len(group)])
                at = int(row[len(group)]) // step_seconds * step_seconds
                add_counts(out[key][at].histogram, decode_histogram(row[-1]))
        return {
            key: [(datetime.fromtimestamp(at, UTC), w) for at, w in sorted(steps.items())]
            for key, steps in out.items()
        }

    def mark(self, tenant_id: str) -> datetime | None:
        """Up to when the tenant's parts are counted (None before the first pass)."""
        with self.db.read() as conn:
            value = conn.execute(
                select(log_rollup_marks.c.mark).where(log_rollup_marks.c.tenant_id == tenant_id)
            ).scalar()
        return None if value is None else datetime.fromtimestamp(value / 1000, UTC)


def _row(tenant_id: str, key: Key, values: dict[str, Any], histogram: dict[int, int]) -> dict:
    endpoint, model, version, alias, bucket = key
    return {
        "tenant_id": tenant_id,
        "endpoint": endpoint,
        "model": model,
        "version": int(version),
        "alias": alias,
        "bucket": int(bucket),
        **{name: values[name] for name in (*SUMS, "score_sumsq", "score_min", "score_max")},
        "latency_histogram": _encode(histogram),
    }


def _encode(histogram: dict[int, int]) -> str:
    return orjson.dumps([x for pair in sorted(histogram.items()) for x in pair]).decode()


def _extreme(pick: Callable[..., float], a: float | None, b: float | None) -> float | None:
    present = [v for v in (a, b) if v is not None]
    return pick(present) if present else None


def _seconds(at: datetime) -> int:
    return int(at.timestamp())


def _within(tenant_id: str, start: datetime, end: datetime, endpoint: str | None) -> list:
    """The rollup rows of a tenant's buckets starting in ``[start, end)``, of one endpoint
    if named."""
    t = log_rollups.c
    conditions = [t.tenant_id == tenant_id, t.bucket >= _seconds(start), t.bucket < _seconds(end)]
    if endpoint is not None:
        conditions.append(t.endpoint == endpoint)
    return conditions


class RollupThread:
    """The rollup every ``interval`` seconds in a daemon thread (``ailayer up``, ``ailayer
    monitor``); a failed pass is logged and counted, and the next one picks up its parts."""

    def __init__(self, rollup: LogRollup, interval: float) -> None:
        self.rollup = rollup
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ailayer-log-rollup", daemon=True)

    def start(self) -> RollupThread:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.rollup.run_once()
            except Exception:
                self.rollup.failures += 1
                logger.exception("log rollup pass failed; the next one retries")
            self._stop.wait(self.interval)

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self._thread.join(timeout)
