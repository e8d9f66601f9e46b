"""Bytes in and out of a run: a trained model in its flavor's safe format, and tables as
Parquet (entity rows, holdout predictions). Never pickle: the bytes are what the
registry checks and serving loads."""

from __future__ import annotations

import io
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from ailayer.core.errors import InvalidInput


def model_bytes(flavor: str, model: Any) -> bytes:
    """A fitted model in the format its flavor loads (a trainer may return bytes itself)."""
    if isinstance(model, bytes):
        return model
    if flavor == "sklearn":
        import skops.io as sio

        return sio.dumps(model)
    if flavor == "lightgbm":
        booster = getattr(model, "booster_", model)
        return booster.model_to_string().encode()
    if flavor == "xgboost":
        booster = model.get_booster() if hasattr(model, "get_booster") else model
        return bytes(booster.save_raw("json"))
    raise InvalidInput(f"cannot save a model of flavor {flavor!r}", field="flavor")


def table_bytes(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def bytes_table(data: bytes) -> pa.Table:
    return pq.read_table(io.BytesIO(data))
