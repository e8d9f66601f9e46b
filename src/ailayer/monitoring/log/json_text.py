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
WHITESPACE = np.frombuffer(b" \n\r\t", np.uint8)  # JSON's, and only between tokens or in strings
RECORDS_KEY = b'"records"'
RECORDS_OPEN, RECORDS_CLOSE = b"{" + RECORDS_KEY + b":[", b"]}"


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

    ``body`` must be JSON that the predict path parsed into ``count`` records. With its
    whitespace left out (a client's ``json.dumps`` puts a space after every comma), every
    boundary between two records reads exactly ``},{``; one inside a record (in a
    string, a nested list of objects) adds a piece, so ``count`` pieces prove every cut
    is a boundary. Each text runs from its record's ``{`` to its ``}`` in the body as it
    came, the record's own whitespace kept (still JSON, and the same values): no parse,
    no encode, which is what makes a large batch's log cheap.

    ``{"records": [...]}`` is cut only when ``"records"`` appears once and there is no
    escape: the parser keeps the last of duplicate keys, and an escape can spell a key.
    """
    if count < 2:
        return None
    data = np.frombuffer(body, np.uint8)
    spaces = np.isin(data, WHITESPACE)
    where = np.flatnonzero(~spaces) if spaces.any() else None  # body index of each kept byte
    packed = data if where is None else data[where]
    text = packed.tobytes()
    if text.startswith(RECORDS_OPEN) and text.endswith(RECORDS_CLOSE):
        if b"\\" in text or text.count(RECORDS_KEY) != 1:
            return None
        first, last = len(RECORDS_OPEN), len(text) - len(RECORDS_CLOSE) - 1
    elif text.startswith(b"[") and text.endswith(b"]"):
        first, last = 1, len(text) - 2
    else:
        return None
    if last <= first or packed[first] != OPEN_OBJECT or packed[last] != CLOSE_OBJECT:
        return None
    inner = packed[first : last + 1]
    cuts = first + np.flatnonzero(
        (inner[:-2] == CLOSE_OBJECT) & (inner[1:-1] == COMMA) & (inner[2:] == OPEN_OBJECT)
    )  # each boundary's ``}``
    if len(cuts) != count - 1:
        return None
    starts = np.concatenate(([first], cuts + 2))  # each record's ``{`` and ``}``
    ends = np.concatenate((cuts, [last]))
    if where is not None:
        starts, ends = where[starts], where[ends]
    return _slices(data, starts, ends + 1)


def _slices(data: np.ndarray, starts: np.ndarray, stops: np.ndarray) -> pa.StringArray:
    """``data[starts[i]:stops[i]]`` for every i, as one string array (the slices ascend
    and do not touch: a separator lies between any two)."""
    edges = np.zeros(data.size + 1, np.int8)
    edges[starts] = 1
    edges[stops] = -1
    kept = np.cumsum(edges[:-1], dtype=np.int8).view(bool)
    offsets = np.zeros(len(starts) + 1, np.int32)
    np.cumsum(stops - starts, out=offsets[1:])
    return pa.StringArray.from_buffers(len(starts), pa.py_buffer(offsets), pa.py_buffer(data[kept]))
