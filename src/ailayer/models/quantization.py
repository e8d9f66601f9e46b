"""Register a version's int8-quantized variant as a new version of the same model.

The new version serves like any other (an endpoint, a canary or a gate decides whether
to use it); its tags name the version it came from and its metrics carry the measured
size, latency and accuracy deltas (``models/compile/quantize.py``).
"""

from __future__ import annotations

from typing import Any

from ailayer.core.errors import InvalidInput
from ailayer.models.compile.quantize import METHOD, Quantized, quantize
from ailayer.models.flavors import get_flavor
from ailayer.models.service import ModelRegistry, NewVersion
from ailayer.models.signature import Signature
from ailayer.models.version import ModelVersion

MAX_HOLDOUT_ROWS = 100_000


def quantize_version(
    registry: ModelRegistry,
    tenant_id: str,
    actor: str,
    model: str,
    version: int,
    holdout: list[Any] | None = None,
    label: str | None = None,
) -> tuple[ModelVersion, Quantized]:
    """Quantize ``model`` ``version``, measure it (accuracy on ``holdout`` records, whose
    ``label`` field holds the truth, when given) and register it; the new version and the
    measurements."""
    source = registry.get_version(tenant_id, model, version)
    signature = Signature.parse(source.signature)
    labelled = _holdout(signature, holdout, label)
    artifact = registry.load_artifact(tenant_id, source)
    served_flavor, served = registry.load_served(tenant_id, source)
    baseline = get_flavor(served_flavor).load(served)
    result = quantize(source.flavor, artifact, signature, baseline, labelled)
    new = NewVersion(
        model=model,
        flavor="onnx",
        artifact=result.onnx,
        signature=source.signature,
        params=source.params,
        metrics={f"quantization_{k}": v for k, v in result.deltas.items() if v is not None},
        tags={**source.tags, "quantized_from": str(version), "quantization": "dynamic-int8"},
        description=f"{METHOD} of version {version}, from {result.source}",
        dataset_version=source.dataset_version,
        feature_refs=source.feature_refs,
        code_version=source.code_version,
        pipeline_run=source.pipeline_run,
        compile=False,
    )
    return registry.register(tenant_id, actor, new), result


def _holdout(
    signature: Signature, records: list[Any] | None, label: str | None
) -> tuple[Any, list[Any]] | None:
    """The holdout as the model's matrix and the labels; errors name the record."""
    if records is None:
        if label is not None:
            raise InvalidInput("label needs holdout records", field="holdout")
        return None
    if not isinstance(records, list) or not records:
        raise InvalidInput("holdout must be a non-empty list of records", field="holdout")
    if len(records) > MAX_HOLDOUT_ROWS:
        raise InvalidInput(
            f"holdout holds at most {MAX_HOLDOUT_ROWS:,} records; got {len(records):,}",
            field="holdout",
        )
    if not isinstance(label, str) or not label:
        raise InvalidInput("label must name the holdout's truth field", field="label")
    names = set(signature.names)
    labels, rows = [], []
    for index, record in enumerate(records):
        if not isinstance(record, dict) or label not in record:
            where = f"holdout[{index}]"
            raise InvalidInput(f"{where} must be an object with the field {label!r}", field=where)
        labels.append(record[label])
        rows.append({k: v for k, v in record.items() if k in names})
    return signature.matrix(rows), labels
