"""The offline side of a stream view: its raw events and every value row, as Parquet.

Under the tenant's offline folder, per view version:

    streams/<view>@<v>/events/part-<seq>.parquet   raw events: id, type, time, data (JSON)
    streams/<view>@<v>/values/part-<seq>.parquet   each row written online: keys, feature_ts, values

``values`` is the view's ``StreamSource`` path, so ``OfflineStore.get_training_set`` reads it
with its ordinary point-in-time join. ``events`` is the record of what was applied: the
runner flushes both before it acks, so an acked event is always in the log, and a
restarted processor rebuilds its windows (and its set of applied ids) from it. Files are
written whole or not at all (``Folder.write_parquet``), so readers never see half a file;
``seq`` grows within a process, so later files sort later (the point-in-time join's
tie-breaker).
"""

from __future__ import annotations

import posixpath
import time
import uuid
from collections.abc import Iterator
from typing import Any

import orjson
import pyarrow as pa

from ailayer.features.definitions import FeatureView
from ailayer.features.files import Folder
from ailayer.features.streaming.processor import Parsed, Row
from ailayer.features.streaming.spec import VALUES_TIMESTAMP, events_path, stream_source
from ailayer.features.types import ARROW_TYPES

SKEW_US = 3600 * 1_000_000  # producers' clocks may run this far ahead of ours
TIMESTAMP = pa.timestamp("us", tz="UTC")
EVENT_SCHEMA = pa.schema(
    [("event_id", pa.string()), ("event_time", TIMESTAMP), ("data", pa.string())]
)


class StreamLog:
    """Buffers a view's raw events and value rows; ``flush`` writes them durably."""

    def __init__(self, tenant_root: Folder, view: FeatureView) -> None:
        self.view = view
        self.values_dir = tenant_root.child(stream_source(view).path)
        self.events_dir = tenant_root.child(events_path(view.name, view.version))
        self.schema = pa.schema(
            [(k, ARROW_TYPES[t]) for k, t in view.join_keys.items()]
            + [(VALUES_TIMESTAMP, TIMESTAMP)]
            + [(f.name, ARROW_TYPES[f.dtype]) for f in view.features]
        )
        self._events: list[tuple[str, int, Any]] = []  # id, time, data (JSON at write)
        self._rows: list[Row] = []
        self._token = uuid.uuid4().hex[:8]
        self._last_seq = 0

    def add_event(self, parsed: Parsed, data: Any) -> None:
        """Buffer an applied event; its data is serialised by ``write``, off the event
        loop's thread (the runner writes from a worker thread)."""
        self._events.append((parsed.id, parsed.at_us, data))

    def add_rows(self, rows: list[Row]) -> None:
        self._rows.extend(rows)

    def event_times(self) -> list[int]:
        """Times (µs) of the events buffered for the next flush."""
        return [at_us for _, at_us, _ in self._events]

    @property
    def pending(self) -> int:
        return len(self._events) + len(self._rows)

    def flush(self) -> None:
        """Write what is buffered (blocking: call it from a worker thread)."""
        self.write(*self.take())

    def take(self) -> tuple[list[tuple[str, int, Any]], list[Row]]:
        """Hand over what is buffered, so that ``write`` can run in a worker thread
        while new events are buffered."""
        taken = self._events, self._rows
        self._events, self._rows = [], []
        return taken

    def write(self, events: list[tuple[str, int, Any]], rows: list[Row]) -> None:
        """Write ``take``'s events and rows durably (blocking)."""
        if events:
            ids, times, data = zip(*events, strict=True)
            dumps = orjson.dumps
            table = pa.table(
                [pa.array(ids, pa.string()), pa.array(times, pa.int64()).cast(TIMESTAMP),
                 pa.array([dumps(d) for d in data], pa.binary()).cast(pa.string())],  # UTF-8
                schema=EVENT_SCHEMA,
            )  # fmt: skip
            self._write(self.events_dir, table, use_dictionary=False)  # ids, bodies: unique
        if rows:
            self._write(self.values_dir, self._values_table(rows))

    def _values_table(self, rows: list[Row]) -> pa.Table:
        keys = list(self.view.join_keys)
        columns = [pa.array([r.keys[i] for r in rows], self.schema.field(k).type)
                   for i, k in enumerate(keys)]  # fmt: skip
        columns.append(pa.array([r.at_us for r in rows], pa.int64()).cast(TIMESTAMP))
        for feature in self.view.features:
            values = [r.values.get(feature.name) for r in rows]
            columns.append(pa.array(values, ARROW_TYPES[feature.dtype]))
        return pa.Table.from_arrays(columns, schema=self.schema)

    def _write(self, folder: Folder, table: pa.Table, use_dictionary: bool = True) -> None:
        name = f"part-{self._seq():020d}-{self._token}.parquet"
        folder.write_parquet(name, table, durable=True, use_dictionary=use_dictionary)

    def _seq(self) -> int:
        self._last_seq = max(self._last_seq + 1, time.time_ns())
        return self._last_seq

    def read_events(self, since_us: int) -> Iterator[tuple[str, int, dict[str, Any]]]:
        """Logged events with time ≥ ``since_us``, in the order they were applied."""
        for location in self.events_dir.glob("part-*.parquet"):
            if int(posixpath.basename(location).split("-")[1]) // 1000 < since_us - SKEW_US:
                continue  # written long before the horizon: its events are older still
            table = self.events_dir.read_parquet(location)
            times = table.column("event_time").cast(pa.int64()).to_pylist()
            ids = table.column("event_id").to_pylist()
            for event_id, at_us, data in zip(
                ids, times, table.column("data").to_pylist(), strict=True
            ):
                if at_us >= since_us:
                    yield event_id, at_us, orjson.loads(data)
