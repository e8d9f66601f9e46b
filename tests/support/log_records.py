"""Prediction-log records for tests: a model version, a target and response items."""

from __future__ import annotations

from datetime import UTC, datetime

from ailayer.models.signature import Signature
from ailayer.models.version import ModelVersion
from ailayer.serving.target import Target


def model_version(version: int = 1, tags: dict | None = None) -> ModelVersion:
    """A version of the model ``fraud`` that was never stored: what a target needs of it."""
    return ModelVersion(
        model="fraud",
        version=version,
        flavor="sklearn",
        artifact_uri="artifacts://sha256/" + "0" * 64,
        artifact_sha256="0" * 64,
        artifact_size=0,
        signature={},
        params={},
        metrics={},
        tags=tags or {},
        description="",
        dataset_version=None,
        feature_refs=[],
        code_version=None,
        pipeline_run=None,
        archived=False,
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
        created_by=None,
        aliases=["champion"],
    )


def target(
    endpoint: str = "fraud", version: int = 1, tags: dict | None = None, alias: str = "champion"
) -> Target:
    """``alias`` is what the log records as the answering alias (an A/B variant's name)."""
    signature = Signature.parse({"inputs": [{"name": "amount", "type": "double"}]})
    return Target(endpoint, "fraud", alias, model_version(version, tags), signature)


def items(n: int, start: int = 0) -> list[dict]:
    return [
        {"prediction_id": f"{i:032x}", "prediction": i % 2 == 0, "score": i / 100}
        for i in range(start, start + n)
    ]
