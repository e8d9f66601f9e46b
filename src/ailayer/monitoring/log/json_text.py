"""The log's JSON texts per row, made in bulk: what one ``orjson.dumps`` per value would
write, for a fraction of its cost on large batches.

``record_texts`` goes further for the features of a predict body that arrived as JSON: it
cuts the body's records out of its bytes, without parsing them, when the body's shape
proves where each record starts and ends.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

COMMA, OPEN_OBJECT, CLOSE_OBJECT, SPACE = ord(","), ord("{"), ord("}"), ord(" ")
SCALARS = frozenset({bool, int, float, str})
WHITESPACE = b" \n\r\t"  # JSON's
GAP = ", \n\r\t"  # what lies between two records: a comma, JSON's whitespace
IN_GAP = np.isin(np.arange(256), np.frombuffer(GAP.encode(), np.uint8))  # by byte value
RECORDS_KEY = b'"records"'
RECORDS_OPEN = re.compile(rb'\s*\{\s*"records"\s*:\s*\[')


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


def value_texts(values: list[Any]) -> pa.StringArray | None:
    """``json_each(values)`` as an Arrow array, cut from one ``orjson.dumps`` of the list
    at its commas with NumPy (no Python string per value): ``len(values) - 1`` commas
    prove that no value's own text holds one. None when that is not proven, for a None
    among the values (``json_text`` gives None, not ``null``), or for a list orjson
    refuses (then ``json_each`` raises where that value stands)."""
    try:
        text = orjson.dumps(values)
    except orjson.JSONEncodeError:
        return None
    if not values or b"null" in text or len(text) >= 2**31:  # null: None, NaN, or a word
        return None
    inner = text[1:-1]  # without the list's brackets
    commas = np.flatnonzero(np.frombuffer(inner, np.uint8) == COMMA)
    if len(commas) != len(values) - 1:
        return None
    offsets = np.empty(len(values) + 1, np.int32)  # in the texts without their commas
    offsets[0], offsets[-1] = 0, len(inner) - len(commas)
    offsets[1:-1] = commas + 1 - np.arange(1, len(values))
    joined = inner.replace(b",", b"")
    return pa.StringArray.from_buffers(len(values), pa.py_buffer(offsets), pa.py_buffer(joined))


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

    ``body`` must be JSON that the predict path parsed into ``count`` records. Between
    two records there is ``}``, a comma and ``{``, with only whitespace around the comma
    (a client's ``json.dumps`` puts a space there). So in the sequence of the body's
    ``{``, ``,`` and ``}`` bytes every boundary reads ``},{``; such a run inside a record
    (a string, nested objects) adds a piece, so ``count`` pieces prove every cut is a
    boundary. Each text runs from its record's ``{`` to its ``}`` as the body has it, the
    record's own whitespace kept (still JSON, the same values): no parse, no encode, no
    copy but the one that trims the gaps, which is what makes a large batch's log cheap.
    (The body parsed as JSON, so it is valid UTF-8, as Arrow's strings must be.)
    Most bodies take a shorter way to the same cuts (``_quick_starts``).
    """
    span = _records_span(body) if count >= 2 else None
    if span is None:
        return None
    data = np.frombuffer(body, np.uint8)[span[0] : span[1]]  # from the first { to the last }
    starts = _quick_starts(data)
    if starts is None:
        marks = np.flatnonzero((data == OPEN_OBJECT) | (data == COMMA) | (data == CLOSE_OBJECT))
        seq = data[marks]
        runs = np.flatnonzero(
            (seq[:-2] == CLOSE_OBJECT) & (seq[1:-1] == COMMA) & (seq[2:] == OPEN_OBJECT)
        )
        starts = marks[runs + 2]
    if len(starts) != count - 1:
        return None
    offsets = np.empty(count + 1, np.int32)
    offsets[0], offsets[1:-1], offsets[-1] = 0, starts, data.size  # at each {
    # each text then ends in its gap to the next record (the comma and any whitespace,
    # none of which a record ends with: it ends with its }), which one C pass trims
    texts = pa.StringArray.from_buffers(count, pa.py_buffer(offsets), pa.py_buffer(data))
    return pc.utf8_rtrim(texts, characters=GAP)


def _quick_starts(data: np.ndarray) -> np.ndarray | None:
    """Where a record may start after a ``}``, read from the ``}`` bytes alone (a tenth of
    the body's marks): every ``}`` followed by ``,{`` or ``, {`` (the gaps that
    ``orjson`` and ``json.dumps`` write); None when a ``}`` is followed by any other gap
    (a comma or whitespace), which could be a boundary this does not read. Otherwise
    every boundary is among these, so ``count - 1`` of them prove each is one, as the
    marks do in ``record_texts``. (A boundary's ``}`` has a record after it, ``{}`` at
    least: it lies 4 bytes or more before the end.)"""
    closes = np.flatnonzero(data[:-3] == CLOSE_OBJECT)
    after, second = data[closes + 1], data[closes + 2]
    compact = (after == COMMA) & (second == OPEN_OBJECT)
    spaced = (after == COMMA) & (second == SPACE) & (data[closes + 3] == OPEN_OBJECT)
    quick = compact | spaced
    if np.any(IN_GAP[after] & ~quick):
        return None
    return closes[quick] + 2 + spaced[quick]


def _records_span(body: bytes) -> tuple[int, int] | None:
    """Where a body's list of records lies, from its first ``{`` to past its last ``}``;
    None for any other shape. ``{"records": [...]}`` counts only with ``"records"`` once
    and no escape in the body: the parser keeps the last of duplicate keys, and an
    escape can spell a key."""
    end = len(body.rstrip(WHITESPACE))
    opened = RECORDS_OPEN.match(body)
    if opened is not None:
        if b"\\" in body or body.count(RECORDS_KEY) != 1 or body[end - 1 : end] != b"}":
            return None
        first, end = opened.end(), len(body[: end - 1].rstrip(WHITESPACE))
    else:
        first = len(body) - len(body.lstrip(WHITESPACE)) + 1
        if body[first - 1 : first] != b"[":
            return None
    if body[end - 1 : end] != b"]":
        return None
    inner = body[first : end - 1]
    first += len(inner) - len(inner.lstrip(WHITESPACE))
    stop = first + len(inner.strip(WHITESPACE))
    if stop - first < 2 or body[first] != OPEN_OBJECT or body[stop - 1] != CLOSE_OBJECT:
        return None
    return first, stop
