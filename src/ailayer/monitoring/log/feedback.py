"""Labels and feedback: ``prediction id → label``, possibly days later, stored as Parquet.

Why Parquet in the offline store and not a metadata table: labels are as many as
predictions, they are only ever read joined to the log (which is Parquet), and DuckDB
joins two Parquet sets without moving rows through the metadata database. Retries are
harmless: every submission is appended, and readers take the latest label received for
each prediction id.

Feedback for ids not in the log is not stored; the ids come back in ``unknown_ids``. The
log trails predictions by up to the writer's interval (1 s), so a client that labels
within a second of predicting may see its id unknown and should retry.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import pyarrow as pa

from ailayer.core.clock import utcnow
from ailayer.core.errors import BadRequest, InvalidInput
from ailayer.monitoring import ranking
from ailayer.monitoring.log.layout import feedback_dir, write_part
from ailayer.monitoring.log.predictions import PredictionLog

MAX_ITEMS = 10_000

SCHEMA = pa.schema(
    [
        ("prediction_id", pa.string()),
        ("tenant_id", pa.string()),
        ("label", pa.string()),
        ("label_time", pa.timestamp("us", tz="UTC")),
        ("received_at", pa.timestamp("us", tz="UTC")),
    ]
)


@dataclass(frozen=True, slots=True)
class Feedback:
    prediction_id: str
    label: bool | int | float | str | dict
    time: datetime | None = None


def parse_feedback(body: bytes) -> list[Feedback]:
    """One ``{"prediction_id", "label", "time"?}`` object or a list of them."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"request body is not valid JSON: {exc}") from None
    items = payload if isinstance(payload, list) else [payload]
    if not items:
        raise InvalidInput("feedback must not be empty", field="feedback")
    if len(items) > MAX_ITEMS:
        raise InvalidInput(f"at most {MAX_ITEMS} feedback items per call", field="feedback")
    many = isinstance(payload, list)
    return [_item(raw, f"feedback[{i}]" if many else "feedback") for i, raw in enumerate(items)]


def _item(raw: Any, where: str) -> Feedback:
    if not isinstance(raw, dict):
        raise InvalidInput(f"{where} must be a JSON object", field=where)
    extra = sorted(set(raw) - {"prediction_id", "label", "time"})
    if extra:
        raise InvalidInput(f"{where}: unexpected field {extra[0]!r}", field=extra[0])
    prediction_id = raw.get("prediction_id")
    if not isinstance(prediction_id, str) or not prediction_id:
        raise InvalidInput(f"{where}: prediction_id must be a string", field="prediction_id")
    label = raw.get("label")
    if isinstance(label, dict):  # what was done with a recommendation: checked here
        ranking.parse_interactions(label, f"{where}.label")
    elif not _is_scalar(label):
        raise InvalidInput(
            f"{where}: label must be a number, string or boolean (or for a recommendation "
            f'{{"clicked": [item ids], "purchased": [item ids]}}); got {label!r}',
            field="label",
        )
    return Feedback(prediction_id, label, _time(raw.get("time"), where))


def _is_scalar(value: Any) -> bool:
    if type(value) is float:
        return math.isfinite(value)
    return type(value) in (bool, int, str)


def _time(value: Any, where: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise InvalidInput(
            f"{where}: time must be an ISO 8601 date-time; got {value!r}", field="time"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def fitted_label(label: Any, prediction: Any, where: str) -> Any:
    """``label`` as the type of the model's predictions, or 422 naming the field; for a
    recommendation, the items clicked and purchased (``monitoring.ranking``)."""
    if ranking.is_ranking(prediction):
        return ranking.parse_interactions(label, f"{where}.label")
    if isinstance(label, dict):
        raise InvalidInput(
            f"{where}: label must be a number, string or boolean for this model's "
            f"predictions; got {label!r}",
            field="label",
        )
    if isinstance(prediction, bool):
        if type(label) is bool or (type(label) is int and label in (0, 1)):
            return bool(label)
        expected = "true or false (or 0/1), like the model's predictions"
    elif isinstance(prediction, int):
        if type(label) is int:
            return label
        expected = "an integer class, like the model's predictions"
    elif isinstance(prediction, float):
        if type(label) in (int, float):
            return float(label)
        expected = "a number, like the model's predictions"
    else:
        if type(label) is type(prediction):
            return label
        expected = f"a {type(prediction).__name__}, like the model's predictions"
    raise InvalidInput(f"{where}: label must be {expected}; got {label!r}", field="label")


class FeedbackStore:
    def __init__(self, log: PredictionLog) -> None:
        self.log = log

    def submit(self, tenant_id: str, items: list[Feedback]) -> dict:
        """Store the labels of logged predictions; report the ids the log does not know.

        All or nothing: a label of the wrong type refuses the whole call (422).
        """
        self.log.flush()  # predictions of the last interval are still in the buffer
        known = self.log.lookup(tenant_id, (item.prediction_id for item in items))
        received, rows, unknown = utcnow(), [], []
        many = len(items) > 1
        for i, item in enumerate(items):
            if item.prediction_id not in known:
                unknown.append(item.prediction_id)
                continue
            where = f"feedback[{i}]" if many else "feedback"
            label = fitted_label(item.label, orjson.loads(known[item.prediction_id]), where)
            rows.append(
                (
                    item.prediction_id,
                    tenant_id,
                    orjson.dumps(label).decode(),
                    item.time or received,
                    received,
                )
            )
        if rows:
            columns = list(zip(*rows, strict=True))
            table = pa.table(dict(zip(SCHEMA.names, columns, strict=True)), schema=SCHEMA)
            write_part(table, feedback_dir(self.log.tenant_root(tenant_id), received.date()))
        return {"accepted": len(rows), "unknown": len(unknown), "unknown_ids": unknown}
