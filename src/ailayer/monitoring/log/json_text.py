"""The log's JSON texts per row, made in bulk: what one ``orjson.dumps`` per value would
write, for a fraction of its cost on large batches.

``record_texts`` goes further for the features of a predict body that arrived as JSON: it
cuts the body's records out of its bytes, without parsing them, when the body's shape
proves where each record starts and ends.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
import pyarrow as pa

COMMA, OPEN_OBJECT, CLOSE_OBJECT = ord(","), ord("{"), ord("}")
SCALARS = frozenset({bool, int, float, str})
UNPROVEN = (b" ", b"\n", b"\r", b"\t", b"\\")  # whitespace and escapes: parse instead
RECORDS_OPEN, RECORDS_CLOSE = b'{"records":[', b"]}"


def json_text(value: object) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


def json_each(values: list[Any]) -> list[str | None]:
    """``[json_text(v) for v in values]``; for scalars (a model's predictions) from one
    ``orjson.dumps`` of the whole list, cut at its commas when that is unambiguous: a
    value whose own text holds a comma adds a piece, so the count of pieces proves every
    cut is a boundary. (Objects gain nothing: orjson encodes one as fast as it splits.)"""
    types = set(map(type, values))
    if types and types <= SCALARS:
        try:
            pieces = orjson.dumps(values).decode()[1:-1].split(",")
        except orjson.JSONEncodeError:  # each value alone raises it where it stands
            pieces = []
        if len(pieces) == len(values):
            return pieces  # type: ignore[return-value]
    return [json_text(value) for value in values]


def json_rows(rows: list[Any]) -> list[str | None]:
    """``[json_text(row) for row in rows]`` for a list of objects, from one ``orjson.dumps``
    of the whole list cut at its ``},{``: between objects orjson writes exactly that, and
    an object whose own text holds it (in a string, a nested list of objects) adds a
    piece, so the count of pieces proves every cut is a boundary."""
    if len(rows) > 1 and set(map(type, rows)) == {dict}:
        try:
            pieces = orjson.dumps(rows).decode()[2:-2].split("},{")
        except orjson.JSONEncodeError:  # each row alone raises it where it stands
            pieces = []
        if len(pieces) == len(rows):
            return ["{" + piece + "}" for piece in pieces]
    return [json_text(row) for row in rows]


def record_texts(body: bytes, count: int) -> pa.StringArray | None:
    """The JSON text of each of the ``count`` (two or more) records of a predict body (a
    list of objects, or ``{"records": [...]}``), cut from its bytes; None when the cuts
    cannot be proven here (then parse the body).

    ``body`` must be JSON that the predict path parsed into ``count`` records. Without a
    byte of whitespace or a backslash in it, ``records`` is written just so and every
    boundary between two records is exactly ``},{``; one inside a record (in a string, a
    nested list of objects) adds a piece, so ``count`` pieces prove every cut is a
    boundary. The texts are the body's own bytes (no parse, no encode), which is what
    makes a large batch's log cheap.
    """
    if count < 2 or any(char in body for char in UNPROVEN):
        return None
    if body.startswith(RECORDS_OPEN) and body.endswith(RECORDS_CLOSE):
        inner = body[len(RECORDS_OPEN) : -len(RECORDS_CLOSE)]
    elif body.startswith(b"[") and body.endswith(b"]"):
        inner = body[1:-1]
    else:
        return None
    if not (inner.startswith(b"{") and inner.endswith(b"}")):
        return None
    data = np.frombuffer(inner, np.uint8)
    cuts = np.flatnonzero(
        (data[:-2] == CLOSE_OBJECT) & (data[1:-1] == COMMA) & (data[2:] == OPEN_OBJECT)
    )  # the commas' positions, less one
    if len(cuts) != count - 1:
        return None
    kept = np.ones(data.size, bool)
    kept[cuts + 1] = False  # the commas between records
    offsets = np.empty(count + 1, np.int32)
    offsets[0], offsets[-1] = 0, data.size - len(cuts)
    offsets[1:-1] = cuts + 1 - np.arange(len(cuts))  # a record's start, less the commas before it
    return pa.StringArray.from_buffers(count, pa.py_buffer(offsets), pa.py_buffer(data[kept]))
