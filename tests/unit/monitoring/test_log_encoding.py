"""The log's encoding in bulk: values of a batch as one value at a time would write them,
and rows of many entries (answers and failures) each with their own shared fields."""

from __future__ import annotations

import json
import random
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pytest

from ailayer.core.records import records_of
from ailayer.monitoring.log.buffer import Entry
from ailayer.monitoring.log.json_text import _quick_starts, json_each, record_texts, value_texts
from ailayer.monitoring.log.json_text import json_rows as _json_rows
from ailayer.monitoring.log.json_text import json_text as _json
from ailayer.monitoring.log.sink import repeated
from tests.support.log_records import items, target

ATOMS: list[Any] = [1, -2.5, 1e300, True, False, None, "", ",", "a,b", "é", "x", [1, 2], {}]


@pytest.mark.parametrize(
    "values",
    [[1, 2.5, True, "a"], ["a,b", "c"], [None, None], [None, 1], [[1, 2], [3]], ["", ""], [0.1]],
)
def test_bulk_text_is_each_values_own(values: list[Any]) -> None:
    assert json_each(values) == [_json(v) for v in values]


def test_random_batches_encode_as_one_value_at_a_time() -> None:
    rng = random.Random(17)
    for _ in range(5000):
        values = [rng.choice(ATOMS) for _ in range(rng.randint(1, 6))]
        assert json_each(values) == [_json(v) for v in values], values


ROW_ATOMS: list[Any] = [
    *ATOMS,
    "},{",
    "}, {",
    "{",
    "}",
    [{}, {}],
    [{"a": 1}, {"b": "},{"}],
    {"n": {}},
]


def test_random_rows_encode_as_one_row_at_a_time() -> None:
    """Cut at ``},{`` only where the count proves it: strings and nested objects that hold
    it, empty rows, and rows of one key each."""
    rng = random.Random(23)
    for _ in range(5000):
        rows = [
            {f"k{j}": rng.choice(ROW_ATOMS) for j in range(rng.randint(0, 3))}
            for _ in range(rng.randint(1, 5))
        ]
        assert _json_rows(rows) == [_json(row) for row in rows], rows


def test_rows_that_are_not_all_objects_encode_one_at_a_time() -> None:
    rows: list[Any] = [{"a": "},{},{"}, 5, {"b": 1}]  # would cut into three wrong pieces
    assert _json_rows(rows) == [_json(row) for row in rows]
    assert _json_rows([None, {"a": 1}]) == [None, '{"a":1}']


def test_a_value_orjson_refuses_raises_as_it_would_alone() -> None:
    with pytest.raises(orjson.JSONEncodeError):
        json_each([1, 2**70])


def _texts(body: bytes) -> list[str] | None:
    records = records_of(orjson.loads(body))
    texts = record_texts(body, len(records))
    if texts is not None:
        assert [orjson.loads(text) for text in texts.to_pylist()] == records, body
    return None if texts is None else texts.to_pylist()


def test_records_are_cut_from_a_compact_body_as_they_came() -> None:
    assert _texts(b'{"records":[{"a":1},{},{"b":"}{,"}]}') == ['{"a":1}', "{}", '{"b":"}{,"}']
    assert _texts(b'[{"a":[1,2]},{"b":{"c":null}}]') == ['{"a":[1,2]}', '{"b":{"c":null}}']
    assert _texts(b'[{"a":"x\\\\"},{"b":2}]') == ['{"a":"x\\\\"}', '{"b":2}']  # escapes kept


def test_records_are_cut_from_a_body_with_whitespace_keeping_their_own() -> None:
    """What ``json.dumps`` writes by default, or indented: each record's text is its own
    bytes from ``{`` to ``}``, spaces included (still JSON, the same values)."""
    assert _texts(b' [ {"a": 1} ,\n {"b": [1, 2]} ] ') == ['{"a": 1}', '{"b": [1, 2]}']
    assert _texts(b'{ "records" : [{"a":1},\t{"b":2}] }\n') == ['{"a":1}', '{"b":2}']
    assert _texts(b'[{"a": "} , {"}, {"b": 2}, {"c": 3}]') is None  # spaced, in a string


@pytest.mark.parametrize(
    "body",
    [
        b'{"a":1}',  # one record: parsed (cheap), as is the ambiguous {"records":[...],...}
        b'{"records":[{"a":1}],"b":[{"c":2}]}',
        # duplicate keys: the parser keeps the last list, so the first is not the records
        b'{"records":[{"a":1}],"records":[{"p":1},{"q":1}]}',
        b'{"records":[{"a":1}],"rec\\u006frds":[{"p":1},{"q":1}]}',  # a key spelt by escapes
        b'{"records":[{"records":1},{"b":2}]}',  # "records" twice: not proven either
        b'[{"a":"},{"},{"b":2}]',  # a boundary inside a string adds a piece
        b'[{"a":[{"b":1},{"c":2}]},{"d":3}]',  # so does a nested list of objects
        b'{"rows":[{"a":1},{"b":2}]}',
    ],
)
def test_bodies_whose_cuts_are_not_proven_are_left_to_the_parser(body: bytes) -> None:
    assert _texts(body) is None


def test_random_bodies_cut_as_their_parsed_records() -> None:
    """Every body whose records come out of the cut gives them as parsing it does; most
    compact bodies of plain rows do come out."""
    rng = random.Random(29)
    cut = 0
    for _ in range(5000):
        rows = [
            {f"k{j}": rng.choice(ROW_ATOMS) for j in range(rng.randint(0, 3))}
            for _ in range(rng.randint(2, 6))
        ]
        payload = rng.choice([rows, {"records": rows}])
        body = rng.choice([orjson.dumps(payload), json.dumps(payload).encode()])
        if rng.random() < 0.2:
            body = json.dumps(payload, indent=rng.choice([None, 2, "\t"])).encode()
        cut += _texts(body) is not None
    assert cut > 1000


def test_entries_of_many_sizes_keep_their_own_fields_and_row_numbers(services) -> None:  # type: ignore[no-untyped-def]
    sink = services.prediction_log.backend.sink
    sizes = [3, 1, 0, 5, 2]  # 0: a failure
    entries = []
    for index, size in enumerate(sizes):
        rows = [{"amount": float(i)} for i in range(size)] if size else None
        answered = items(size, start=100 * index) if size else None
        entries.append(
            Entry(
                f"t{index}",
                target(),
                1_000_000 * index,
                float(index),
                rows,
                answered,
                None if size else "invalid_input",
                None,
            )
        )

    rows = sink.table(entries).to_pylist()

    expected = [(i, row) for i, size in enumerate(sizes) for row in range(max(size, 1))]
    assert [(int(r["tenant_id"][1:]), r["request_row"]) for r in rows] == expected
    for r in rows:
        index = int(r["tenant_id"][1:])
        assert r["latency_ms"] == float(index)
        assert r["time"].timestamp() == pytest.approx(index / 1000)
        assert (r["error"] is None) == bool(sizes[index])
        if sizes[index]:
            assert orjson.loads(r["features"]) == {"amount": float(r["request_row"])}
            assert r["prediction_id"] == f"{100 * index + r['request_row']:032x}"


@pytest.mark.parametrize(
    "values",
    [["acme"] * 3, [None] * 3, ["a", "b", "a"], ["é"] * 3, [None, "x", None], [""] * 3, []],
)
def test_values_shared_by_entries_repeat_as_a_take_would(values: list[Any]) -> None:
    sizes = np.array([2, 0, 3][: len(values)], dtype=np.int64)
    owner = pa.array(np.repeat(np.arange(len(values)), sizes), pa.int64())
    expected = pa.array(values, pa.string()).take(owner)
    made = repeated(values, sizes, pa.string())
    assert made.type == pa.string() and made.equals(expected)


def test_numbers_shared_by_entries_repeat_in_order() -> None:
    sizes = np.array([1, 2], dtype=np.int64)
    assert repeated([3, 3], sizes, pa.int64()).to_pylist() == [3, 3, 3]
    assert repeated([1.5, None], sizes, pa.float64()).to_pylist() == [1.5, None, None]


def test_values_cut_from_one_text_are_each_values_own() -> None:
    """Where ``value_texts`` answers, it answers as ``json_each``; a comma, a None or the
    word null in any value leaves the batch to ``json_each``."""
    rng = random.Random(37)
    answered = 0
    for _ in range(3000):
        values = [
            rng.choice([*ATOMS, "null", 2**63 - 1, -(2**63)]) for _ in range(rng.randint(1, 6))
        ]
        texts = value_texts(values)
        if texts is not None:
            answered += 1
            assert texts.type == pa.string() and texts.to_pylist() == json_each(values), values
        else:
            assert None in values or "null" in values or "," in orjson.dumps(values)[1:-1].decode()
    assert answered > 100
    assert value_texts([0, 1] * 500).to_pylist() == ["0", "1"] * 500
    assert value_texts([]) is None and value_texts([1, 2**70]) is None


def test_bodies_orjson_or_json_dumps_wrote_are_cut_from_their_closing_braces_alone() -> None:
    rows = [{"a": 1, "b": {"c": [1, 2]}}, {"d": "},{"}, {}]
    for body in (orjson.dumps(rows), json.dumps(rows).encode()):
        data = np.frombuffer(body, np.uint8)[1:-1]
        starts = _quick_starts(data)
        assert starts is not None and len(starts) == 3  # the string's "},{" too: not proven
        assert _texts(body) is None
    body = json.dumps(rows[:1] + rows[2:]).encode()
    starts = _quick_starts(np.frombuffer(body, np.uint8)[1:-1])
    assert starts is not None and starts.tolist() == [body.index(b"{}") - 1]
    assert _quick_starts(np.frombuffer(json.dumps(rows, indent=1).encode(), np.uint8)) is None
