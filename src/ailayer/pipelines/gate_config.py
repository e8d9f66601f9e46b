"""How a gate checks its configuration when it is declared.

Each helper returns the value it was given (normalised) or raises ``InvalidInput`` naming
the field and what was expected, so a pipeline with a gate that could never be judged is
refused where it is written.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from ailayer.core.errors import InvalidInput
from ailayer.pipelines.gate_metrics import METRICS


def set_field(obj: object, name: str, value: Any) -> None:
    object.__setattr__(obj, name, value)


def gate_name(value: Any, default: str) -> str:
    if value == "":
        return default
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput("name must be a non-empty string", field="name")
    return value


def check_metric(metric: Any, field: str) -> None:
    if metric not in METRICS:
        raise InvalidInput(f"unknown metric {metric!r}; known: {sorted(METRICS)}", field=field)


def finite(value: Any, field: str, *, minimum: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput(f"{field} must be a number; got {value!r}", field=field)
    if not math.isfinite(value):
        raise InvalidInput(f"{field} must be finite; got {value!r}", field=field)
    if minimum is not None and value < minimum:
        raise InvalidInput(f"{field} must be at least {minimum:g}; got {value!r}", field=field)
    return float(value)


def unit(value: Any, field: str) -> float:
    value = finite(value, field, minimum=0.0)
    if value > 1:
        raise InvalidInput(f"{field} must be in [0, 1]; got {value!r}", field=field)
    return value


def in_metric_range(metric: str, value: Any, field: str) -> float:
    value = finite(value, field)
    low, high = METRICS[metric].range
    if not low <= value <= high:
        raise InvalidInput(
            f"{field} for {metric} must be in [{low:g}, {high:g}]; got {value!r}", field=field
        )
    return value


def count(value: Any, field: str, *, minimum: int, maximum: int | None = None) -> int:
    expected = f"an integer in [{minimum}, {maximum}]" if maximum else f"an integer >= {minimum}"
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidInput(f"{field} must be {expected}; got {value!r}", field=field)
    if maximum is not None and value > maximum:
        raise InvalidInput(f"{field} must be {expected}; got {value!r}", field=field)
    return value


def attribute_names(values: Any) -> tuple[str, ...]:
    if isinstance(values, str) or not isinstance(values, Sequence):
        raise InvalidInput("attributes must be a list of column names", field="attributes")
    names = tuple(values)
    if not names:
        raise InvalidInput("attributes must name at least one column", field="attributes")
    for name in names:
        if not isinstance(name, str) or not name:
            raise InvalidInput(f"attributes: {name!r} is not a column name", field="attributes")
    if len(set(names)) != len(names):
        raise InvalidInput("attributes must not repeat a column", field="attributes")
    return names
