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

from dataclasses import dataclass

import pyarrow as pa

from ailayer.core.errors import InvalidInput
from ailayer.features.engines import BatchEngine, MapProgress
from ailayer.models.service import ModelRegistry
from ailayer.serving.resolver import EndpointResolver
from ailayer.serving.scorer import Scorer, matrix
from ailayer.serving.target import Target

SAMPLE_ROWS = 16


@dataclass(frozen=True)
class ScoreResult:
    endpoint: str
    model: str
    version: int
    rows: int
    engine: str
    output: str


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
