"""What batch scoring runs on each batch of rows, wherever the rows are: a ``Scorer``
holds a model version's served artifact and signature, loads the model once per process
(by its flavor's checked loader) and appends its predictions to the batch.

It imports only what that needs (no stores, no engines), so a Spark executor's Python
worker that unpickles it loads little beyond the model's own libraries.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ailayer.core.errors import InvalidInput
from ailayer.models.flavors.base import LoadedModel, get_flavor
from ailayer.models.signature import NUMERIC_TYPES, Signature

OUTPUTS = ("prediction", "score")
_loaded: dict[str, LoadedModel] = {}  # per process, by artifact sha256: one load each
_loading = threading.Lock()


@dataclass(frozen=True)
class Scorer:
    """What each batch goes through; pickles small (the artifact bytes and names), so an
    engine can ship it to where the rows are."""

    flavor: str
    artifact: bytes
    sha256: str
    inputs: tuple[tuple[str, str], ...]
    value_type: pa.DataType | None = None  # known once a sample has been scored
    scores: bool = False

    def schema(self, given: pa.Schema) -> pa.Schema:
        _check_columns(given, self.inputs)
        fields = [pa.field("prediction", self.value_type or pa.float64())]
        if self.scores:
            fields.append(pa.field("score", pa.float64()))
        return pa.schema([*given, *fields])

    def __call__(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        predictions = self.model().predict(matrix(batch, self.inputs))
        columns = [*batch.columns, pa.array(predictions.values, self.value_type)]
        if self.scores:
            columns.append(pa.array(predictions.scores, pa.float64()))
        return pa.RecordBatch.from_arrays(columns, schema=self.schema(batch.schema))

    def model(self) -> LoadedModel:
        with _loading:
            found = _loaded.get(self.sha256)
            if found is None:
                found = _loaded[self.sha256] = get_flavor(self.flavor).load(self.artifact)
            return found


def matrix(batch: pa.RecordBatch, inputs: tuple[tuple[str, str], ...]) -> np.ndarray:
    """The batch's signature columns as the model's matrix, checked as a request's
    records are: numeric signatures column by column with NumPy, others through
    ``Signature.matrix``. A wrong value names its column and row."""
    _check_columns(batch.schema, inputs)
    if not all(t in NUMERIC_TYPES for _, t in inputs):
        records = batch.select([n for n, _ in inputs]).to_pylist()
        return Signature(inputs, ()).matrix(records)
    out = np.empty((batch.num_rows, len(inputs)), dtype=np.float64)
    for j, (name, type_) in enumerate(inputs):
        out[:, j] = _numeric(batch.column(name), name, type_)
    return out


def _numeric(column: pa.Array, name: str, type_: str) -> np.ndarray:
    kind = column.type
    wanted = {
        "double": pa.types.is_integer(kind) or pa.types.is_floating(kind),
        "long": pa.types.is_integer(kind),
        "boolean": pa.types.is_boolean(kind),
    }[type_]
    if not wanted:
        raise InvalidInput(f"column {name!r} must hold {type_} values; got {kind}", field=name)
    if column.null_count:
        row = pc.index(pc.is_null(column), True).as_py()
        raise InvalidInput(f"column {name!r} is empty at row {row} of a batch", field=name)
    values = column.to_numpy(zero_copy_only=False).astype(np.float64)
    if type_ == "double" and not np.isfinite(values).all():
        row = int(np.flatnonzero(~np.isfinite(values))[0])
        raise InvalidInput(f"column {name!r} is not finite at row {row} of a batch", field=name)
    return values


def _check_columns(schema: pa.Schema, inputs: tuple[tuple[str, str], ...]) -> None:
    missing = [f"{n} ({t})" for n, t in inputs if n not in schema.names]
    if missing:
        raise InvalidInput(
            f"the input has no column for the model's inputs: {', '.join(missing)}",
            field=missing[0].split(" ")[0],
        )
    taken = [name for name in OUTPUTS if name in schema.names]
    if taken:
        raise InvalidInput(
            f"the input already has a column {taken[0]!r}, which scoring adds; rename it",
            field=taken[0],
        )
