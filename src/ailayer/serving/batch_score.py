"""Batch scoring: a file of rows through the model version an endpoint serves, on the
batch engine (DuckDB here by default, Spark when configured).

The version is resolved as the predict path resolves it (the endpoint's first live
variant, or a pinned version) and its served artifact (compiled unless switched off) is
what runs. The model travels as its artifact bytes and is loaded where the rows are, by
its flavor's checked loader (once per process: on Spark, once per executor's Python
worker). Rows are validated against the signature like a request, column by column;
the output is the input plus ``prediction`` and, when the model gives scores,
``score``. Provider models (an external API per row) are not batch-scored.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ailayer.core.errors import InvalidInput
from ailayer.features.engines import BatchEngine, MapProgress
from ailayer.models.flavors.base import LoadedModel, get_flavor
from ailayer.models.service import ModelRegistry
from ailayer.models.signature import NUMERIC_TYPES, Signature
from ailayer.serving.resolver import EndpointResolver
from ailayer.serving.target import Target

OUTPUTS = ("prediction", "score")
SAMPLE_ROWS = 16
_loaded: dict[str, LoadedModel] = {}  # per process, by artifact sha256: one load each
_loading = threading.Lock()


@dataclass(frozen=True)
class ScoreResult:
    endpoint: str
    model: str
    version: int
    rows: int
    engine: str
    output: str


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


def score_file(
    resolver: EndpointResolver,
    registry: ModelRegistry,
    engine: BatchEngine,
    tenant_id: str,
    endpoint: str,
    source: str,
    target: str,
    *,
    version: int | None = None,
    progress: MapProgress | None = None,
) -> ScoreResult:
    """Score every row of ``source`` into ``target`` with the endpoint's model."""
    served = _target(resolver, tenant_id, endpoint, version)
    flavor, artifact = registry.load_served(tenant_id, served.version)
    if flavor == "provider":
        raise InvalidInput(
            f"endpoint {endpoint!r} serves a provider model (an external API per row); "
            "batch scoring runs local models only",
            field="endpoint",
        )
    scorer = Scorer(flavor, artifact, served.key[2], served.signature.inputs)
    scorer = _typed(scorer, source)
    rows = engine.map_file(source, target, scorer, progress)
    model = served.version
    return ScoreResult(endpoint, model.model, model.version, rows, engine.name, target)


def _target(
    resolver: EndpointResolver, tenant_id: str, endpoint: str, version: int | None
) -> Target:
    if version is None:
        return resolver.resolve(tenant_id, endpoint)
    return resolver.resolve_pinned(tenant_id, endpoint, version).live[0]


def _typed(scorer: Scorer, source: str) -> Scorer:
    """The scorer with its output types, from scoring the first rows of ``source``
    (an engine declares its output schema before it sees the rows)."""
    sample = _sample(source)
    if sample.num_rows == 0:
        return scorer
    predictions = scorer.model().predict(matrix(sample, scorer.inputs))
    value_type = pa.array(predictions.values).type
    if pa.types.is_null(value_type) or pa.types.is_integer(value_type):
        value_type = pa.int64() if pa.types.is_integer(value_type) else pa.float64()
    return Scorer(
        scorer.flavor,
        scorer.artifact,
        scorer.sha256,
        scorer.inputs,
        value_type,
        predictions.scores is not None,
    )


def _sample(source: str) -> pa.RecordBatch:
    import duckdb

    from ailayer.features.engines.formats import file_format
    from ailayer.features.sources import literal

    kind = file_format(source, "--input")
    reader = "read_parquet" if kind == "parquet" else "read_csv"
    con = duckdb.connect()
    try:
        table = con.sql(f"SELECT * FROM {reader}({literal(source)}) LIMIT {SAMPLE_ROWS}")
        return table.to_arrow_table().combine_chunks().to_batches()[0]
    except IndexError:
        return pa.RecordBatch.from_pylist([])
    except duckdb.Error as exc:
        raise InvalidInput(f"--input {source!r} cannot be read: {exc}", field="--input") from None
    finally:
        con.close()


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
