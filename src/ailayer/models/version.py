"""A registered model version as the registry hands it out: one row of ``model_versions``
with the model's name and the aliases that point at it.

A value, read-only: serving, monitoring and the CLI read its fields by name; the API turns
it into JSON with ``to_dict`` at the edge.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from ailayer.models.artifacts import ArtifactRef


@dataclass(frozen=True, slots=True)
class ModelVersion:
    """One version of a model: its artifact, signature, metadata and lineage."""

    model: str
    version: int
    flavor: str
    artifact_uri: str
    artifact_sha256: str
    artifact_size: int
    signature: dict[str, Any]  # as stored; ``Signature.parse`` gives the typed one
    params: dict[str, Any]
    metrics: dict[str, float]
    tags: dict[str, str]
    description: str
    dataset_version: str | None
    feature_refs: list[str]
    code_version: str | None
    pipeline_run: str | None
    archived: bool
    created_at: datetime
    created_by: str | None
    aliases: list[str]

    @classmethod
    def from_row(cls, model: str, row: Any, aliases: dict[str, int]) -> ModelVersion:
        """The version in ``row`` (a ``model_versions`` row); ``aliases`` maps each alias of
        the model to its version, and those pointing at this one are kept."""
        stored = {f.name: getattr(row, f.name) for f in fields(cls)[1:-1]}
        held = sorted(a for a, v in aliases.items() if v == row.version)
        return cls(model=model, **stored, aliases=held)

    @property
    def artifact(self) -> ArtifactRef:
        return ArtifactRef(self.artifact_uri, self.artifact_sha256, self.artifact_size)

    def to_dict(self) -> dict[str, Any]:
        """The fields by name, in declaration order (the API's JSON answer)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}
