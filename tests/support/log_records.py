"""Prediction-log records for tests: a target and response items."""

from __future__ import annotations

from ailayer.models.signature import Signature
from ailayer.serving.target import Target


def target(endpoint: str = "fraud", version: int = 1, tags: dict | None = None) -> Target:
    signature = Signature.parse({"inputs": [{"name": "amount", "type": "double"}]})
    raw = {"version": version, "artifact_sha256": "0" * 64, "tags": tags or {}}
    return Target(endpoint, "fraud", "champion", raw, signature)


def items(n: int, start: int = 0) -> list[dict]:
    return [
        {"prediction_id": f"{i:032x}", "prediction": i % 2 == 0, "score": i / 100}
        for i in range(start, start + n)
    ]
