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

import numpy as np
import orjson

from ailayer.core.ids import IdBlock
from ailayer.monitoring.log.buffer import Entry
from ailayer.monitoring.log.sink import fixed_width_texts, text_array

TEXT_SIZE = struct.Struct("<I")  # an entries payload's JSON text, before the bodies
BINARY_ROWS = 64  # an entry of fewer rows sends its ids and scores as JSON: for a few
# values one array each on both sides would cost more than the text


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
    """Entries as one payload (``encode_pieces``, joined), and the rows that could not be
    encoded."""
    pieces, failed = encode_pieces(entries)
    return b"".join(pieces), failed


def encode_pieces(entries: Sequence[Entry]) -> tuple[list[bytes], int]:
    """Entries as the pieces of one payload, to be written one after the other, and the
    rows of entries that could not be encoded (a value orjson cannot write: the
    in-process log would have failed them too).

    The payload is a JSON text (targets once, then one item per entry) behind its
    length, followed by binary pieces the text points to: the predict bodies handed over
    as they came (the child cuts a body's records from its bytes without parsing it:
    ``record_texts``), and where they allow it the prediction ids as one ASCII text and
    the scores as float64 (``_columns``): 1,000 ids or floats in JSON cost more to write
    and read than the rest of the entry."""
    targets: dict[int, int] = {}
    target_list: list[list[Any]] = []
    items: list[list[Any]] = []
    blobs = Blobs()
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
        body = None if entry.raw is None else blobs.add(entry.raw)
        items.append(
            [
                entry.tenant_id,
                index,
                entry.time_ns,
                entry.latency_ms,
                entry.rows if body is None else None,
                body,
                _columns(entry.prediction_columns(), blobs) if entry.answered else None,
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
    return [TEXT_SIZE.pack(len(text)) + text, *blobs.pieces], failed


class Blobs:
    """The binary pieces after a payload's text, each found by ``[offset, size]``."""

    def __init__(self) -> None:
        self.pieces: list[bytes] = []
        self.at = 0

    def add(self, piece: bytes) -> list[int]:
        self.pieces.append(piece)
        self.at += len(piece)
        return [self.at - len(piece), len(piece)]


def _columns(columns: tuple, blobs: Blobs) -> list[Any]:
    """Prediction columns for the payload's text: for an entry of ``BINARY_ROWS`` or
    more, ids as one piece (an ``IdBlock``'s buffer as made: ``{"block": [offset,
    size]}``; other ids of one width in ASCII: ``{"ids": [offset, size], "width": w,
    "count": n}``) and all-float scores as one float64 piece (``{"f8": [offset,
    size]}``); anything else as JSON."""
    ids, values, scores, probabilities = columns
    if len(ids) < BINARY_ROWS:
        return [ids.texts() if isinstance(ids, IdBlock) else ids, values, scores, probabilities]
    if isinstance(ids, IdBlock):
        ids = {"block": blobs.add(ids.raw)}
    else:
        try:
            joined = "".join(ids)  # a TypeError for anything but strings
        except TypeError:
            joined = ""
        if joined.isascii() and ids and len(set(map(len, ids))) == 1:
            ids = {"ids": blobs.add(joined.encode()), "width": len(ids[0]), "count": len(ids)}
    if scores and set(map(type, scores)) == {float}:
        scores = {"f8": blobs.add(np.array(scores, np.float64).tobytes())}
    return [ids, values, scores, probabilities]


def _columns_back(columns: list[Any], payload: bytes, start: int) -> tuple:
    """The columns as the sink takes them: ids as an Arrow string array and scores as a
    NumPy array where they came as pieces, otherwise lists."""
    ids, values, scores, probabilities = columns
    if isinstance(ids, dict) and "block" in ids:
        at, size = ids["block"]
        ids = text_array(IdBlock(payload[start + at : start + at + size]))
    elif isinstance(ids, dict):
        (at, size), width, count = ids["ids"], ids["width"], ids["count"]
        data = memoryview(payload)[start + at : start + at + size]
        ids = fixed_width_texts(data, width, count)
    if isinstance(scores, dict):
        at, size = scores["f8"]
        scores = np.frombuffer(payload[start + at : start + at + size], np.float64)
    return ids, values, scores, probabilities


def decode_entries(payload: bytes) -> list[Entry]:
    """The entries of a payload (``encode_entries``), as the log process's sink reads them."""
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
            columns=None if columns is None else _columns_back(columns, payload, start),
        )
        for tenant, index, time_ns, latency, rows, body, columns, error, pid in items
    ]
