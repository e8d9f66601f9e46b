"""The log sink port and its Parquet backend: entries → parts (Arrow tables) → files.

A sink honours this contract, called from one thread at a time, never on the event loop:
- ``parts(entries)`` turns entries into ``LogPart``s, PII already hashed or redacted,
  so that what is kept anywhere (the journal included) never holds a raw PII value;
- ``write(parts)`` stores every row of ``parts`` (or raises), returns the rows written.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Protocol

import orjson
import pyarrow as pa

from ailayer.core.ids import new_id
from ailayer.features.files import Folder
from ailayer.monitoring.log.buffer import Entry
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


@dataclass(frozen=True, slots=True)
class LogPart:
    """Rows of one tenant's endpoint on one day, ready to store."""

    tenant_id: str
    endpoint: str
    day: date
    table: pa.Table


class LogSink(Protocol):
    def parts(self, entries: Sequence[Entry]) -> list[LogPart]: ...

    def write(self, parts: Sequence[LogPart]) -> int: ...


def _json(value: object) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


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
        columns: dict[str, list] = {name: [] for name in SCHEMA.names}
        for entry in entries:
            for name, values in self._columns(entry).items():
                columns[name] += values
        return pa.table(columns, schema=SCHEMA)

    def _columns(self, entry: Entry) -> dict[str, list]:
        """One entry's values, column by column (one row per prediction, or the failure)."""
        target, items = entry.target, entry.predictions or []
        n = len(items) or 1
        common = {
            "tenant_id": [entry.tenant_id] * n,
            "model": [target.model] * n,
            "version": [target.version.version] * n,
            "alias": [target.alias] * n,
            "time": [entry.time_ns // 1000] * n,
            "latency_ms": [entry.latency_ms] * n,
            "request_row": list(range(n)),
        }
        if not items:
            empty = {key: [None] for key in ("features", "prediction", "score", "probabilities")}
            failure_id = entry.prediction_id or new_id()
            return {"prediction_id": [failure_id], **common, **empty, "error": [entry.error]}
        return {
            "prediction_id": [item["prediction_id"] for item in items],
            **common,
            "features": self._features(entry, n),
            "prediction": [_json(item["prediction"]) for item in items],
            "score": [item.get("score") for item in items],
            "probabilities": [_json(item.get("probabilities")) for item in items],
            "error": [None] * n,
        }

    def _features(self, entry: Entry, n: int) -> list[str | None]:
        if entry.rows is None:
            return [None] * n
        key = (entry.tenant_id, *entry.target.key)
        policy = self._policies.get(key)
        if policy is None:
            policy = PiiPolicy.from_tags(entry.target.version.tags)
            self._policies[key] = policy
        if not policy.fields:
            return [_json(row) for row in entry.rows]
        salt = self.salts.salt(entry.tenant_id) if policy.hashed else b""
        return [_json(policy.apply(row, salt)) for row in entry.rows]
