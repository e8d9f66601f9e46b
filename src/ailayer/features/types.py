"""Feature value types: the names users write, and what each means in Arrow, DuckDB and JSON.

One small table keeps the three worlds (definitions, the offline engine, the online path)
agreeing on what ``int64`` or ``string`` accepts, so a value that passes at serving time
would also have passed at training time.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from ailayer.core.errors import InvalidInput

DTYPES = ("int64", "float64", "string", "bool")
KEY_DTYPES = ("int64", "string")
_PYTHON_TYPES = {int: "int64", float: "float64", str: "string", bool: "bool"}
_ALIASES = {"int": "int64", "float": "float64", "double": "float64", "str": "string"}
DUCKDB_TYPES = {"int64": "BIGINT", "float64": "DOUBLE", "string": "VARCHAR", "bool": "BOOLEAN"}
ARROW_TYPES = {
    "int64": pa.int64(),
    "float64": pa.float64(),
    "string": pa.string(),
    "bool": pa.bool_(),
}


def normalize_dtype(value: object, field: str, allowed: tuple[str, ...] = DTYPES) -> str:
    """``int`` / ``"int"`` / ``"int64"`` → ``"int64"``; anything else is an InvalidInput."""
    name = _PYTHON_TYPES.get(value) if isinstance(value, type) else value  # type: ignore[call-overload]
    name = _ALIASES.get(name, name) if isinstance(name, str) else name
    if name not in allowed:
        raise InvalidInput(
            f"{field} must be one of {', '.join(allowed)}; got {value!r}", field=field
        )
    return name  # type: ignore[return-value]


_DUCK_INTS = (
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "UTINYINT",
    "USMALLINT",
    "UINTEGER",
    "UBIGINT",
)
_DUCK_FLOATS = ("FLOAT", "DOUBLE")


def duckdb_accepts(dtype: str, duck_type: str) -> bool:
    """Whether a source column of DuckDB type ``duck_type`` can be read as ``dtype``."""
    if dtype == "int64":
        return duck_type in _DUCK_INTS
    if dtype == "float64":
        return duck_type in _DUCK_INTS + _DUCK_FLOATS or duck_type.startswith("DECIMAL")
    if dtype == "string":
        return duck_type == "VARCHAR"
    return duck_type == "BOOLEAN"


def duckdb_is_timestamp(duck_type: str) -> bool:
    return duck_type.startswith("TIMESTAMP") or duck_type == "DATE"


def check_value(dtype: str, value: Any, field: str) -> Any:
    """Return ``value`` as ``dtype`` (ints widen to floats) or raise InvalidInput naming ``field``.

    ``None`` passes: whether a missing value is allowed is the caller's decision.
    """
    if value is None:
        return None
    if dtype == "int64" and isinstance(value, int) and not isinstance(value, bool):
        return value
    if dtype == "float64" and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if (dtype == "string" and isinstance(value, str)) or (
        dtype == "bool" and isinstance(value, bool)
    ):
        return value
    raise InvalidInput(
        f"{field} must be {dtype}; got {type(value).__name__} {value!r}", field=field
    )


def to_utc(value: datetime, field: str) -> datetime:
    """Timestamps are instants: naive ones are read as UTC, aware ones converted to UTC."""
    if not isinstance(value, datetime):
        raise InvalidInput(f"{field} must be a datetime; got {value!r}", field=field)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def micros(value: datetime) -> int:
    """Microseconds since the epoch of an aware datetime (exact, no float rounding)."""
    delta = value - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
