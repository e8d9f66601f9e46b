"""The log sink port and its Parquet backend: entries → parts (Arrow tables) → files.

A sink honours this contract, called from one thread at a time, never on the event loop:
- ``parts(entries)`` turns entries into ``LogPart``s, PII already hashed or redacted,
  so that what is kept anywhere (the journal included) never holds a raw PII value;
- ``write(parts)`` stores every row of ``parts`` (or raises), returns the rows written;
- ``needs_pii(entry)``: whether the entry's rows have fields to hash or redact (a log
  process journals the payload that carried such rows only as parts).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol

import numpy as np
import pyarrow as pa

from ailayer.core.ids import ID_BYTES, IdBlock, new_id
from ailayer.features.files import Folder
from ailayer.monitoring.log.buffer import Entry
from ailayer.monitoring.log.json_text import (
    json_each,
    json_rows,
    json_text,
    record_texts,
    value_texts,
)
from ailayer.monitoring.log.layout import day_of, prediction_dir, write_part
from ailayer.monitoring.log.pii import PiiPolicy, SaltStore

SCHEMA = pa.schema(
    [
        ("prediction_id", pa.string()),
        ("tenant_id", pa.string()),
        ("model", pa.string()),
        ("version", pa.int64()),
        ("alias", pa.string()),
        ("time", pa.timestamp("us", tz="UTC")),
        ("latency_ms", pa.float64()),
        ("request_row", pa.int32()),
        ("features", pa.string()),
        ("prediction", pa.string()),
        ("score", pa.float64()),
        ("probabilities", pa.string()),
        ("error", pa.string()),
    ]
)


ARRAY_ROWS = 64  # an entry of this many rows has its predictions' texts made by NumPy
PER_ENTRY = ("tenant_id", "model", "version", "alias", "time", "latency_ms", "error")
PER_ROW = ("prediction_id", "features", "prediction", "score", "probabilities")


@dataclass(frozen=True, slots=True)
class LogPart:
    """Rows of one tenant's endpoint on one day, ready to store."""

    tenant_id: str
    endpoint: str
    day: date
    table: pa.Table


class LogSink(Protocol):
    def parts(self, entries: Sequence[Entry]) -> list[LogPart]: ...

    def needs_pii(self, entry: Entry) -> bool: ...

    def write(self, parts: Sequence[LogPart]) -> int: ...


def fixed_width_texts(data: bytes | memoryview, width: int, count: int) -> pa.StringArray:
    """``count`` ASCII texts of ``width`` characters each, back to back in ``data``, as
    an Arrow string array over that buffer (no Python string per text)."""
    offsets = np.arange(count + 1, dtype=np.int32) * width
    return pa.StringArray.from_buffers(count, pa.py_buffer(offsets), pa.py_buffer(data))


def text_array(ids: IdBlock) -> pa.StringArray:
    """An ``IdBlock``'s ids as the log stores them: their texts, as an Arrow array."""
    return fixed_width_texts(ids.hex(), 2 * ID_BYTES, len(ids))


def repeated(values: list[Any], sizes: np.ndarray, type_: pa.DataType) -> pa.Array:
    """Each of ``values`` repeated ``sizes`` times, as one array. A text or null shared
    by every entry (one tenant, one model, no error: the usual part) is laid out at once
    rather than taken row by row (a take copies each row's text on its own)."""
    count = int(sizes.sum())
    first = values[0] if values else None
    if all(type(value) is type(first) and value == first for value in values):
        if first is None:
            return pa.nulls(count, type_)
        if isinstance(first, str) and first.isascii() and len(first) * count < 2**31:  # int32
            return fixed_width_texts(first.encode() * count, len(first), count)
    owner = pa.array(np.repeat(np.arange(len(values)), sizes))
    return pa.array(values, type_).take(owner)


class Column:
    """A column built in order from Python values and ready arrays (many small entries
    stay one ``pa.array`` call; a large entry's ids, texts or scores that arrived as
    Arrow or NumPy arrays are not copied into Python objects). They are joined into one
    array: a table of chunks saved the join only to have Parquet pay as much more
    reading them from scattered memory (measured in ``benchmarks/log_child_cpu.py``)."""

    def __init__(self, type_: pa.DataType) -> None:
        self.type = type_
        self._chunks: list[pa.Array] = []
        self._values: list[Any] = []

    def extend(self, values: list[Any] | pa.Array | np.ndarray) -> None:
        if isinstance(values, list):
            self._values += values
            return
        if self._values:
            self._close()
        self._chunks.append(
            pa.array(values, self.type) if isinstance(values, np.ndarray) else values
        )

    def array(self) -> pa.Array:
        if self._values or not self._chunks:
            self._close()
        return self._chunks[0] if len(self._chunks) == 1 else pa.concat_arrays(self._chunks)

    def _close(self) -> None:
        self._chunks.append(pa.array(self._values, self.type))
        self._values = []


class ParquetSink:
    """One part file per (tenant, endpoint, day) in each write, with PII hashed or redacted."""

    def __init__(self, tenant_root: Callable[[str], Folder], salts: SaltStore) -> None:
        self.tenant_root = tenant_root
        self.salts = salts
        self._policies: dict[tuple, PiiPolicy] = {}

    def parts(self, entries: Sequence[Entry]) -> list[LogPart]:
        groups: dict[tuple[str, str, date], list[Entry]] = defaultdict(list)
        for entry in entries:
            groups[(entry.tenant_id, entry.target.endpoint, day_of(entry.time_ns))].append(entry)
        return [LogPart(*key, self.table(group)) for key, group in groups.items()]

    def write(self, parts: Sequence[LogPart]) -> int:
        groups: dict[tuple[str, str, date], list[pa.Table]] = defaultdict(list)
        for part in parts:
            groups[(part.tenant_id, part.endpoint, part.day)].append(part.table)
        written = 0
        for (tenant_id, endpoint, day), tables in groups.items():
            table = pa.concat_tables(tables) if len(tables) > 1 else tables[0]
            write_part(table, prediction_dir(self.tenant_root(tenant_id), endpoint, day))
            written += table.num_rows
        return written

    def table(self, entries: Sequence[Entry]) -> pa.Table:
        """The entries' rows: values shared by an entry's rows (tenant, model, time, ...)
        are converted once per entry and repeated by Arrow, the rest column by column."""
        shared: dict[str, list] = {name: [] for name in PER_ENTRY}
        per_row = {name: Column(SCHEMA.field(name).type) for name in PER_ROW}
        counts = []
        for entry in entries:
            target = entry.target
            for name, value in zip(
                PER_ENTRY,
                (
                    entry.tenant_id,
                    target.model,
                    target.version.version,
                    target.alias,
                    entry.time_ns // 1000,
                    entry.latency_ms,
                    entry.error if not entry.answered else None,
                ),
                strict=True,
            ):
                shared[name].append(value)
            counts.append(self._rows(entry, per_row))
        sizes = np.array(counts, dtype=np.int64)
        starts = np.repeat(np.cumsum(sizes) - sizes, sizes)
        columns = {name: column.array() for name, column in per_row.items()}
        columns |= {
            name: repeated(values, sizes, SCHEMA.field(name).type)
            for name, values in shared.items()
        }
        columns["request_row"] = pa.array(np.arange(len(starts)) - starts, pa.int32())
        return pa.table([columns[name] for name in SCHEMA.names], schema=SCHEMA)

    def _rows(self, entry: Entry, into: dict[str, Column]) -> int:
        """Append one entry's per-row values to ``into`` (one row per prediction, or the
        failure); the number of rows."""
        if not entry.answered:
            into["prediction_id"].extend([entry.prediction_id or new_id()])
            for name in ("features", "prediction", "score", "probabilities"):
                into[name].extend([None])
            return 1
        ids, values, scores, probabilities = entry.prediction_columns()
        n = len(ids)
        into["prediction_id"].extend(text_array(ids) if isinstance(ids, IdBlock) else ids)
        into["features"].extend(self._features(entry, n))
        texts = value_texts(values) if n >= ARRAY_ROWS else None
        into["prediction"].extend(texts if texts is not None else json_each(values))
        into["score"].extend(scores if scores is not None else [None] * n)
        into["probabilities"].extend(
            [json_text(p) for p in probabilities] if probabilities is not None else [None] * n
        )
        return n

    def needs_pii(self, entry: Entry) -> bool:
        """Whether the entry's rows have fields to hash or redact before being kept."""
        return bool(self._policy(entry).fields)

    def _policy(self, entry: Entry) -> PiiPolicy:
        key = (entry.tenant_id, *entry.target.key)
        policy = self._policies.get(key)
        if policy is None:
            policy = PiiPolicy.from_tags(entry.target.version.tags)
            self._policies[key] = policy
        return policy

    def _features(self, entry: Entry, n: int) -> list[str | None] | pa.Array:
        """The rows' features as JSON texts, PII hashed or redacted; cut from the predict
        body as it came when there is no PII to treat and its shape allows."""
        if entry.rows is None and entry.raw is None:
            return [None] * n
        policy = self._policy(entry)
        if not policy.fields:
            texts = record_texts(entry.raw, n) if entry.raw is not None else None
            return texts if texts is not None else json_rows(entry.model_rows())
        salt = self.salts.salt(entry.tenant_id) if policy.hashed else b""
        return [json_text(policy.apply(row, salt)) for row in entry.model_rows()]
