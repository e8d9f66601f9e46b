"""Model signatures: the typed fields a model takes and returns, and record validation.

A signature is plain JSON so it can be stored, shown and sent:

    {"inputs":  [{"name": "amount", "type": "double"}, ...],
     "outputs": [{"name": "is_fraud", "type": "long"}]}

Input types: ``double`` (finite JSON number), ``long`` (JSON integer that fits in 64 bits),
``boolean``, ``string``, ``long_list`` (a list of at most ``MAX_LIST_ITEMS`` longs, such as
the item ids a recommender should leave out). Validation names the first wrong field, so a 422 tells the caller
exactly what to fix.

Records are checked column by column (one C-level pass per field over every record for
its types, then NumPy for range and finiteness), so a batch costs a few passes, not a
Python call per value; only when a check fails is the batch walked row by row, to name
the first wrong record and field exactly as a row-by-row check would.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

import numpy as np

from ailayer.core.errors import InvalidInput

INPUT_TYPES = ("double", "long", "boolean", "string", "long_list")
NUMERIC_TYPES = ("double", "long", "boolean")  # a matrix of only these is float64
MAX_LIST_ITEMS = 10_000


def _is_double(v: Any) -> bool:
    """An int or float, never a bool (an int subclass) nor NaN/±inf: those are not JSON,
    in-process callers can still pass them, and models fail on them far from the cause."""
    if type(v) is int:
        return _fits_float(v)
    return type(v) is float and math.isfinite(v)


def _fits_float(v: int) -> bool:
    """Python ints are unbounded; one past ~1.8e308 would crash the float64 matrix."""
    try:
        float(v)
    except OverflowError:
        return False
    return True


def _is_long(v: Any) -> bool:
    return type(v) is int and -(2**63) <= v < 2**63


def _is_boolean(v: Any) -> bool:
    return type(v) is bool


def _is_string(v: Any) -> bool:
    return type(v) is str


def _is_long_list(v: Any) -> bool:
    return type(v) is list and len(v) <= MAX_LIST_ITEMS and all(_is_long(i) for i in v)


CHECKS = {
    "double": _is_double,
    "long": _is_long,
    "boolean": _is_boolean,
    "string": _is_string,
    "long_list": _is_long_list,
}
EXPECTED = {
    "double": "a finite number",
    "long": "a 64-bit integer",
    "boolean": "true or false",
    "string": "a string",
    "long_list": f"a list of at most {MAX_LIST_ITEMS} 64-bit integers",
}


@dataclass(frozen=True)
class Signature:
    inputs: tuple[tuple[str, str], ...]
    outputs: tuple[tuple[str, str], ...]

    @classmethod
    def parse(cls, raw: Any) -> Signature:
        """Validate a signature given by a client; errors name the offending path."""
        if not isinstance(raw, dict):
            raise InvalidInput("signature must be an object with 'inputs'", field="signature")
        inputs = _parse_fields(raw.get("inputs"), "signature.inputs", required=True)
        outputs = _parse_fields(raw.get("outputs", []), "signature.outputs", required=False)
        return cls(inputs, outputs)

    def to_dict(self) -> dict:
        return {
            "inputs": [{"name": n, "type": t} for n, t in self.inputs],
            "outputs": [{"name": n, "type": t} for n, t in self.outputs],
        }

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.inputs)

    def matrix(self, records: list[Any]) -> np.ndarray:
        """Validate records and return them as a 2-D array in signature order."""
        numeric = all(t in NUMERIC_TYPES for _, t in self.inputs)  # else object cells
        matrix = self._by_columns(records, np.float64 if numeric else object)
        if matrix is not None:
            return matrix
        # something is wrong: find the first fault row by row (raises naming it)
        rows = [self._row(record, i, len(records) > 1) for i, record in enumerate(records)]
        if numeric:
            return np.array(rows, dtype=np.float64).reshape(len(rows), len(self.inputs))
        matrix = np.empty((len(rows), len(self.inputs)), dtype=object)  # lists stay cells
        for index, row in enumerate(rows):
            matrix[index, :] = _cells(row)
        return matrix

    def _by_columns(self, records: list[Any], dtype: type) -> np.ndarray | None:
        """The matrix when every record is valid, else None (the caller names the fault)."""
        width = len(self.inputs)
        out = np.empty((len(records), width), dtype=dtype)
        if not records:
            return out
        if set(map(type, records)) != {dict} or set(map(len, records)) != {width}:
            return None  # not all objects, or some lack a field or have an extra one
        for j, (name, type_) in enumerate(self.inputs):
            try:
                column = list(map(itemgetter(name), records))
            except KeyError:
                return None
            if not _fill(out, j, column, type_):
                return None
        return out

    def _row(self, record: Any, index: int, many: bool) -> list[Any]:
        where = f"records[{index}]" if many else "record"
        if not isinstance(record, dict):
            raise InvalidInput(f"{where} must be a JSON object", field=where)
        row = []
        for name, type_ in self.inputs:
            if name not in record:
                raise InvalidInput(f"{where}: missing field {name!r} ({type_})", field=name)
            value = record[name]
            if not CHECKS[type_](value):
                raise InvalidInput(
                    f"{where}: field {name!r} must be {EXPECTED[type_]}; got {value!r}",
                    field=name,
                )
            row.append(value)
        if len(record) != len(self.inputs):
            extra = sorted(set(record) - set(self.names))
            raise InvalidInput(f"{where}: unexpected field {extra[0]!r}", field=extra[0])
        return row


def _cells(row: list[Any]) -> np.ndarray:
    """A row as a 1-D object array whose cells may be lists (``np.array`` would nest them)."""
    cells = np.empty(len(row), dtype=object)
    for index, value in enumerate(row):
        cells[index] = value
    return cells


def _fill(out: np.ndarray, j: int, column: list[Any], type_: str) -> bool:
    """Check one field's values across all records and write them into column ``j`` of
    ``out``; False, leaving ``out`` unfinished, when a value is not of ``type_`` (the same
    rules as ``CHECKS``, applied to the whole column at once)."""
    types = set(map(type, column))
    values: Any = column
    if type_ == "double":
        if not types <= {float, int}:  # never a bool: its type is not int
            return False
        try:
            values = np.array(column, dtype=np.float64)
        except OverflowError:  # an int past float64's range
            return False
        if not np.isfinite(values).all():  # NaN/±inf: not JSON, but in-process callers
            return False
    elif type_ == "long":
        if types != {int}:
            return False
        try:
            values = np.array(column, dtype=np.int64)
        except OverflowError:  # outside 64 bits
            return False
    elif type_ == "long_list":
        if not all(map(_is_long_list, column)):
            return False
        for i, value in enumerate(column):  # one cell each: a NumPy column would nest lists
            out[i, j] = value
        return True
    elif types != {bool if type_ == "boolean" else str}:
        return False
    out[:, j] = column if out.dtype == object else values  # object: values untouched
    return True


def _parse_fields(raw: Any, path: str, *, required: bool) -> tuple[tuple[str, str], ...]:
    if not isinstance(raw, list) or (required and not raw):
        wanted = "a non-empty list" if required else "a list"
        raise InvalidInput(f"{path} must be {wanted} of fields", field=path)
    fields: list[tuple[str, str]] = []
    seen: set[str] = set()
    for i, item in enumerate(raw):
        name = item.get("name") if isinstance(item, dict) else None
        type_ = item.get("type") if isinstance(item, dict) else None
        if not isinstance(name, str) or not name:
            raise InvalidInput(f"{path}[{i}].name must be a non-empty string", field=path)
        if name in seen:
            raise InvalidInput(f"{path}: field {name!r} appears twice", field=path)
        if type_ not in INPUT_TYPES:
            raise InvalidInput(
                f"{path}[{i}].type must be one of {', '.join(INPUT_TYPES)}; got {type_!r}",
                field=path,
            )
        seen.add(name)
        fields.append((name, type_))
    return tuple(fields)
