"""Signatures: parsing names the offending path; records become a matrix or name the field."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ailayer.core.errors import InvalidInput
from ailayer.models.signature import INPUT_TYPES, Signature

FRAUD = Signature.parse(
    {
        "inputs": [
            {"name": "amount", "type": "double"},
            {"name": "card_age_days", "type": "long"},
            {"name": "is_foreign", "type": "boolean"},
        ],
        "outputs": [{"name": "is_fraud", "type": "long"}],
    }
)
GOOD = {"amount": 12.5, "card_age_days": 30, "is_foreign": True}


# --- parse -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "field", "words"),
    [
        (None, "signature", "object"),
        ([{"name": "a", "type": "double"}], "signature", "object"),
        ("inputs", "signature", "object"),
        ({}, "signature.inputs", "non-empty"),
        ({"inputs": []}, "signature.inputs", "non-empty"),
        ({"inputs": {"name": "a", "type": "double"}}, "signature.inputs", "list"),
        ({"inputs": ["amount"]}, "signature.inputs", "signature.inputs[0].name"),
        ({"inputs": [{"name": "", "type": "double"}]}, "signature.inputs", "[0].name"),
        ({"inputs": [{"type": "double"}]}, "signature.inputs", "signature.inputs[0].name"),
        (
            {"inputs": [{"name": "a", "type": "double"}, {"name": "a", "type": "long"}]},
            "signature.inputs",
            "'a' appears twice",
        ),
        (
            {"inputs": [{"name": "a", "type": "double"}, {"name": "b", "type": "float64"}]},
            "signature.inputs",
            "signature.inputs[1].type",
        ),
        ({"inputs": [{"name": "a"}]}, "signature.inputs", "signature.inputs[0].type"),
        (
            {"inputs": [{"name": "a", "type": "double"}], "outputs": [{"name": "y", "type": "x"}]},
            "signature.outputs",
            "signature.outputs[0].type",
        ),
        (
            {"inputs": [{"name": "a", "type": "double"}], "outputs": None},
            "signature.outputs",
            "list",
        ),
    ],
)
def test_parse_errors_name_the_path(raw: Any, field: str, words: str) -> None:
    with pytest.raises(InvalidInput) as excinfo:
        Signature.parse(raw)

    assert excinfo.value.field == field
    assert field in str(excinfo.value)
    assert words in str(excinfo.value)


def test_unknown_type_error_lists_the_known_types() -> None:
    with pytest.raises(InvalidInput) as excinfo:
        Signature.parse({"inputs": [{"name": "a", "type": "float64"}]})

    for known in INPUT_TYPES:
        assert known in str(excinfo.value)


def test_parse_round_trips_through_to_dict() -> None:
    assert Signature.parse(FRAUD.to_dict()) == FRAUD
    assert FRAUD.names == ("amount", "card_age_days", "is_foreign")


def test_outputs_are_optional() -> None:
    signature = Signature.parse({"inputs": [{"name": "a", "type": "double"}]})

    assert signature.outputs == ()


# --- matrix ----------------------------------------------------------------------------


def test_one_record_becomes_one_float_row_in_signature_order() -> None:
    record = {"is_foreign": False, "card_age_days": 30, "amount": 12.5}

    matrix = FRAUD.matrix([record])

    assert matrix.dtype == np.float64
    np.testing.assert_array_equal(matrix, [[12.5, 30.0, 0.0]])


def test_many_records_become_rows_in_order() -> None:
    records = [GOOD, {"amount": 3, "card_age_days": -2, "is_foreign": False}, GOOD]

    matrix = FRAUD.matrix(records)

    assert matrix.dtype == np.float64
    np.testing.assert_array_equal(matrix, [[12.5, 30.0, 1.0], [3.0, -2.0, 0.0], [12.5, 30.0, 1.0]])


def test_no_records_give_an_empty_matrix_with_one_column_per_input() -> None:
    assert FRAUD.matrix([]).shape == (0, 3)


def test_string_features_give_an_object_matrix_with_values_untouched() -> None:
    signature = Signature.parse(
        {"inputs": [{"name": "country", "type": "string"}, {"name": "amount", "type": "double"}]}
    )

    matrix = signature.matrix([{"amount": 1.5, "country": "FR"}, {"country": "", "amount": 2}])

    assert matrix.dtype == object
    assert matrix.shape == (2, 2)
    assert matrix.tolist() == [["FR", 1.5], ["", 2]]


def test_missing_field_is_named() -> None:
    with pytest.raises(InvalidInput) as excinfo:
        FRAUD.matrix([{"amount": 1.0, "is_foreign": True}])

    assert excinfo.value.field == "card_age_days"
    assert "missing" in str(excinfo.value)
    assert "card_age_days" in str(excinfo.value)


def test_extra_field_is_named() -> None:
    with pytest.raises(InvalidInput) as excinfo:
        FRAUD.matrix([{**GOOD, "zzz": 1, "extra": 2}])

    assert excinfo.value.field == "extra"
    assert "unexpected" in str(excinfo.value)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("amount", "12.5"),
        ("amount", True),
        ("amount", None),
        ("amount", float("nan")),
        ("amount", float("inf")),
        ("amount", -float("inf")),
        ("amount", 10**400),
        ("amount", [1.0]),
        ("card_age_days", 30.0),
        ("card_age_days", 30.5),
        ("card_age_days", False),
        ("card_age_days", "30"),
        ("card_age_days", 2**63),
        ("is_foreign", 1),
        ("is_foreign", "true"),
        ("is_foreign", None),
    ],
)
def test_wrong_type_is_named(field: str, value: Any) -> None:
    with pytest.raises(InvalidInput) as excinfo:
        FRAUD.matrix([{**GOOD, field: value}])

    assert excinfo.value.field == field
    assert repr(field) in str(excinfo.value)
    assert excinfo.value.status == 422


def test_long_accepts_the_whole_64_bit_range() -> None:
    matrix = FRAUD.matrix(
        [{**GOOD, "card_age_days": -(2**63)}, {**GOOD, "card_age_days": 2**63 - 1}]
    )

    assert matrix[:, 1].tolist() == [-(2.0**63), 2.0**63]


def test_string_field_refuses_a_number() -> None:
    signature = Signature.parse({"inputs": [{"name": "country", "type": "string"}]})

    with pytest.raises(InvalidInput) as excinfo:
        signature.matrix([{"country": 33}])

    assert excinfo.value.field == "country"


def test_error_in_a_later_record_names_its_index() -> None:
    with pytest.raises(InvalidInput) as excinfo:
        FRAUD.matrix([GOOD, GOOD, {**GOOD, "amount": "x"}])

    assert excinfo.value.field == "amount"
    assert "records[2]" in str(excinfo.value)


def test_single_record_error_says_record() -> None:
    with pytest.raises(InvalidInput) as excinfo:
        FRAUD.matrix([{**GOOD, "amount": "x"}])

    assert str(excinfo.value).startswith("record:")


@pytest.mark.parametrize("record", [[1.0, 2, True], "amount=1", None, 3.5])
def test_record_that_is_not_an_object_is_refused(record: Any) -> None:
    with pytest.raises(InvalidInput) as excinfo:
        FRAUD.matrix([GOOD, record])

    assert excinfo.value.field == "records[1]"
    assert "object" in str(excinfo.value)


# --- property: valid records round-trip to the matrix in signature order -----------------

NUMERIC_VALUES = {
    "double": st.floats(allow_nan=False, allow_infinity=False)
    | st.integers(min_value=-(2**53), max_value=2**53),
    "long": st.integers(min_value=-(2**63), max_value=2**63 - 1),
    "boolean": st.booleans(),
}


@st.composite
def signatures_and_records(draw: st.DrawFn) -> tuple[Signature, list[dict[str, Any]]]:
    names = draw(st.lists(st.text(min_size=1, max_size=8), min_size=1, max_size=6, unique=True))
    types = [draw(st.sampled_from(sorted(NUMERIC_VALUES))) for _ in names]
    signature = Signature.parse(
        {"inputs": [{"name": n, "type": t} for n, t in zip(names, types, strict=True)]}
    )
    records = []
    for _ in range(draw(st.integers(min_value=1, max_value=5))):
        fields = [(n, draw(NUMERIC_VALUES[t])) for n, t in zip(names, types, strict=True)]
        records.append(dict(draw(st.permutations(fields))))
    return signature, records


@settings(database=None, max_examples=150, deadline=None)
@given(signatures_and_records())
def test_valid_records_round_trip_to_the_matrix_in_signature_order(
    case: tuple[Signature, list[dict[str, Any]]],
) -> None:
    signature, records = case

    matrix = signature.matrix(records)

    assert matrix.dtype == np.float64
    assert matrix.shape == (len(records), len(signature.inputs))
    for row, record in zip(matrix.tolist(), records, strict=True):
        expected = [float(record[name]) for name in signature.names]
        assert row == expected
        assert all(math.isfinite(v) for v in row)


# --- batches: checked column by column, faults still named by record and field -----------

BAD_VALUES = {
    "amount": ["12.5", True, False, None, float("nan"), float("inf"), 10**400, [1.0], {}],
    "card_age_days": [30.0, 30.5, False, "30", 2**63, -(2**63) - 1, None],
    "is_foreign": [1, 0, "true", None, 1.0],
}


@settings(database=None, max_examples=200, deadline=None)
@given(
    size=st.integers(min_value=2, max_value=300),
    data=st.data(),
)
def test_the_first_bad_value_of_a_batch_is_named_by_record_and_field(
    size: int, data: st.DataObject
) -> None:
    records = [dict(GOOD) for _ in range(size)]
    faults = data.draw(
        st.lists(
            st.tuples(
                st.integers(min_value=0, max_value=size - 1), st.sampled_from(sorted(BAD_VALUES))
            ),
            min_size=1,
            max_size=4,
        )
    )
    for row, field in faults:
        records[row][field] = data.draw(st.sampled_from(BAD_VALUES[field]))
    order = {name: i for i, name in enumerate(FRAUD.names)}
    row, field = min(faults, key=lambda fault: (fault[0], order[fault[1]]))

    with pytest.raises(InvalidInput) as excinfo:
        FRAUD.matrix(records)

    assert excinfo.value.field == field
    assert str(excinfo.value).startswith(f"records[{row}]: field {field!r} must be")


@pytest.mark.parametrize(
    ("fault", "field", "words"),
    [
        (lambda r: r.pop("card_age_days"), "card_age_days", "missing field 'card_age_days'"),
        (lambda r: r.update(zzz=1), "zzz", "unexpected field 'zzz'"),
        (lambda r: r.update(amount=None) or r.pop("is_foreign"), "amount", "field 'amount' must"),
    ],
)
def test_a_missing_or_extra_field_late_in_a_batch_is_named(fault, field, words) -> None:  # type: ignore[no-untyped-def]
    records = [dict(GOOD) for _ in range(50)]
    fault(records[37])

    with pytest.raises(InvalidInput) as excinfo:
        FRAUD.matrix(records)

    assert excinfo.value.field == field
    assert str(excinfo.value).startswith(f"records[37]: {words}")


def test_a_record_that_is_not_an_object_late_in_a_batch_is_named() -> None:
    records: list[Any] = [dict(GOOD) for _ in range(50)]
    records[41] = list(GOOD.values())

    with pytest.raises(InvalidInput) as excinfo:
        FRAUD.matrix(records)

    assert excinfo.value.field == "records[41]"


def test_a_dict_subclass_is_accepted_as_a_record() -> None:
    class Record(dict):  # type: ignore[type-arg]
        pass

    matrix = FRAUD.matrix([Record(GOOD), GOOD])

    np.testing.assert_array_equal(matrix, [[12.5, 30.0, 1.0], [12.5, 30.0, 1.0]])


def test_a_mixed_batch_keeps_every_value_of_an_object_matrix_untouched() -> None:
    signature = Signature.parse(
        {
            "inputs": [
                {"name": "country", "type": "string"},
                {"name": "amount", "type": "double"},
                {"name": "age", "type": "long"},
                {"name": "new", "type": "boolean"},
            ]
        }
    )
    records = [{"country": f"c{i}", "amount": i if i % 2 else i + 0.5, "age": 2**62 + i,
                "new": i % 3 == 0} for i in range(100)]  # fmt: skip

    matrix = signature.matrix(records)

    assert matrix.dtype == object
    assert matrix.tolist() == [[r["country"], r["amount"], r["age"], r["new"]] for r in records]
    assert [type(v) for v in matrix[1]] == [str, int, int, bool]


def test_huge_finite_numbers_are_accepted_as_doubles() -> None:
    records = [
        {**GOOD, "amount": 1.7e308},
        {**GOOD, "amount": 10**300},
        {**GOOD, "amount": -5e-324},
    ]

    matrix = FRAUD.matrix(records)

    assert matrix[:, 0].tolist() == [1.7e308, 1e300, -5e-324]
