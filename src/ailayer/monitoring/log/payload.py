"""The prediction log's hand-off payload: a batch of entries as one byte string.

The serving process encodes what its buffer held (``encode_entries``) and hands it to
the log process, which decodes it (``decode_entries``) and journals the payload itself,
as it came, when no row needs PII treatment: a journal record that costs one write, and
that a restarted log process decodes again if its writer died before the rows were
stored.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from ailayer.monitoring.log.buffer import Entry

TEXT_SIZE = struct.Struct("<I")  # an entries payload's JSON text, before the bodies


@dataclass(frozen=True, slots=True)
class LoggedVersion:
    """What the log keeps of a model version: its number, key and tags (PII policy)."""

    version: int
    tags: dict[str, str]
    key: tuple


@dataclass(frozen=True, slots=True)
class LoggedTarget:
    """A ``Target`` as the log reads it (``ParquetSink``), rebuilt in the child."""

    endpoint: str
    model: str
    alias: str
    version: LoggedVersion

    @property
    def key(self) -> tuple:
        return self.version.key


def encode_entries(entries: Sequence[Entry]) -> tuple[bytes, int]:
    """Entries as one payload, and the rows of entries that could not be encoded (a value
    orjson cannot write: the in-process log would have failed them too).

    The payload is a JSON text (targets once, then one item per entry) behind its
    length, followed by the predict bodies handed over as they came: the child can cut
    a body's records from its bytes without parsing it (``record_texts``)."""
    targets: dict[int, int] = {}
    target_list: list[list[Any]] = []
    items: list[list[Any]] = []
    bodies: list[bytes] = []
    at = 0
    for entry in entries:
        target = entry.target
        index = targets.get(id(target))
        if index is None:
            index = targets[id(target)] = len(target_list)
            version = target.version
            key = list(target.key)
            target_list.append(
                [target.endpoint, target.model, target.alias, version.version, version.tags, key]
            )
        body = None
        if entry.raw is not None:
            body = [at, len(entry.raw)]
            bodies.append(entry.raw)
            at += len(entry.raw)
        items.append(
            [
                entry.tenant_id,
                index,
                entry.time_ns,
                entry.latency_ms,
                entry.rows if body is None else None,
                body,
                entry.prediction_columns() if entry.answered else None,
                entry.error,
                entry.prediction_id,
            ]
        )
    failed = 0
    try:
        text = orjson.dumps([target_list, items])
    except (orjson.JSONEncodeError, TypeError):
        kept = []
        for entry, item in zip(entries, items, strict=True):
            try:
                orjson.dumps(item)
            except (orjson.JSONEncodeError, TypeError):
                failed += entry.size
                continue
            kept.append(item)
        text = orjson.dumps([target_list, kept])
    return b"".join([TEXT_SIZE.pack(len(text)), text, *bodies]), failed


def decode_entries(payload: bytes) -> list[Entry]:
    (size,) = TEXT_SIZE.unpack_from(payload)
    start = TEXT_SIZE.size + size
    target_list, items = orjson.loads(payload[TEXT_SIZE.size : start])
    targets = [
        LoggedTarget(endpoint, model, alias, LoggedVersion(version, tags, tuple(key)))
        for endpoint, model, alias, version, tags, key in target_list
    ]
    return [
        Entry(
            tenant,
            targets[index],  # type: ignore[arg-type]
            time_ns,
            latency,
            rows,
            None,
            error,
            pid,
            raw=None if body is None else payload[start + body[0] : start + body[0] + body[1]],
            columns=None if columns is None else tuple(columns),  # type: ignore[arg-type]
        )
        for tenant, index, time_ns, latency, rows, body, columns, error, pid in items
    ]
