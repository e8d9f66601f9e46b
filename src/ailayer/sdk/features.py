"""The feature store's calls: what each one sends, and how its answer comes back.

Definitions travel as their JSON specs (``to_spec()``), so the server never imports user
code. A training set built from a DataFrame travels as rows with RFC 3339 timestamps
(naive times are read as UTC, as the offline store reads them) and comes back as a
DataFrame whose timestamp columns are UTC again, typed from the dataset's schema.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from typing import Any

from ailayer.core.errors import InvalidInput
from ailayer.sdk.calls import Call, seg


def specs(definitions: Iterable[Any]) -> list[dict[str, Any]]:
    """Definition objects (anything with ``to_spec()``) or spec dicts, as spec dicts."""
    found = []
    for index, item in enumerate(definitions):
        if hasattr(item, "to_spec"):
            found.append(item.to_spec())
        elif isinstance(item, Mapping):
            found.append(dict(item))
        else:
            raise InvalidInput(
                f"definitions[{index}] must be a definition object or a spec dict; got {item!r}",
                field=f"definitions[{index}]",
            )
    return found


def plan(definitions: Iterable[Any]) -> Call:
    return Call("POST", "/v1/features/plan", json={"definitions": specs(definitions)})


def apply(definitions: Iterable[Any]) -> Call:
    return Call("POST", "/v1/features/apply", json={"definitions": specs(definitions)})


def list_definitions(kind: str | None = None) -> Call:
    return Call("GET", "/v1/features", params={} if kind is None else {"kind": kind})


def get_definition(kind: str, name: str) -> Call:
    return Call("GET", f"/v1/features/{seg(kind)}/{seg(name)}")


def versions(kind: str, name: str) -> Call:
    return Call("GET", f"/v1/features/{seg(kind)}/{seg(name)}/versions")


def online(
    features: str | list[str],
    entity_rows: list[dict[str, Any]],
    request_data: list[dict[str, Any]] | dict[str, Any] | None = None,
    full_names: bool = False,
) -> Call:
    body = {
        "features": _features(features),
        "entity_rows": list(entity_rows),
        "request_data": request_data,
        "full_names": full_names,
    }
    return Call("POST", "/v1/features/online", json=body, parse=lambda answer: answer["rows"])


def training_set(
    features: str | list[str],
    entities: Any,
    timestamp_column: str = "event_timestamp",
    full_names: bool = False,
) -> Call:
    """``entities``: a pandas DataFrame (a DataFrame comes back) or a list of row dicts."""
    if _is_dataframe(entities):
        rows, parse = _frame_rows(entities, timestamp_column), _as_frame
    else:
        rows, parse = [_row(r) for r in entities], _as_rows
    body = {
        "features": _features(features),
        "entity_rows": rows,
        "timestamp_column": timestamp_column,
        "full_names": full_names,
    }
    return Call("POST", "/v1/features/training-set", json=body, parse=parse)


def dataset(dataset_id: str) -> Call:
    return Call("GET", f"/v1/datasets/{seg(dataset_id)}")


# --- conversions -----------------------------------------------------------------------------


def _features(features: str | Iterable[str]) -> str | list[str]:
    return features if isinstance(features, str) else list(features)


def _is_dataframe(value: Any) -> bool:
    return type(value).__name__ == "DataFrame" and hasattr(value, "to_dict")


def rfc3339(value: datetime | date) -> str:
    """A timestamp as RFC 3339; a naive one is taken as UTC."""
    if not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.isoformat()


def _plain(value: Any) -> Any:
    """A JSON-ready cell: missing values (NaN, NaT, pd.NA) as null, times as RFC 3339."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, datetime | date):
        return None if value != value else rfc3339(value)  # NaT is not equal to itself
    if hasattr(value, "item") and not isinstance(value, str):
        return _plain(value.item())  # a NumPy scalar
    if type(value).__name__ == "NAType":
        return None
    return value


def _row(row: Mapping[str, Any]) -> dict[str, Any]:
    return {key: _plain(value) for key, value in row.items()}


def _frame_rows(frame: Any, timestamp_column: str) -> list[dict[str, Any]]:
    if timestamp_column not in frame.columns:
        raise InvalidInput(
            f"the entity DataFrame needs a {timestamp_column!r} column", field=timestamp_column
        )
    return [_row(r) for r in frame.to_dict(orient="records")]


def _as_rows(answer: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    return answer["rows"], answer["dataset"]


def _as_frame(answer: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    import pandas as pd  # only callers who pass a DataFrame need pandas

    dataset = answer["dataset"]
    columns = [c["name"] for c in dataset["schema"]]
    frame = pd.DataFrame.from_records(answer["rows"], columns=columns)
    for column in dataset["schema"]:
        if column["type"].startswith("timestamp"):
            frame[column["name"]] = pd.to_datetime(frame[column["name"]], utc=True)
    return frame, dataset
