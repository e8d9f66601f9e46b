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

OWN = ("model", "aliases")  # the fields that are not columns of ``model_versions``


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
    compilation: dict[str, Any] | None = None  # models/compile's record; None: never tried
    serve_compiled: bool = True  # the per-version switch; serves compiled only if kept

    @classmethod
    def from_row(cls, model: str, row: Any, aliases: dict[str, int]) -> ModelVersion:
        """The version in ``row`` (a ``model_versions`` row); ``aliases`` maps each alias of
        the model to its version, and those pointing at this one are kept."""
        stored = {f.name: getattr(row, f.name) for f in fields(cls) if f.name not in OWN}
        held = sorted(a for a, v in aliases.items() if v == row.version)
        return cls(model=model, **stored, aliases=held)

    @property
    def artifact(self) -> ArtifactRef:
        return ArtifactRef(self.artifact_uri, self.artifact_sha256, self.artifact_size)

    @property
    def compiled_artifact(self) -> ArtifactRef | None:
        """The compiled (ONNX) form kept beside the original, if it passed."""
        record = self.compilation or {}
        if not record.get("compiled"):
            return None
        return ArtifactRef(
            record["artifact_uri"], record["artifact_sha256"], record["artifact_size"]
        )

    @property
    def serves_compiled(self) -> bool:
        return self.serve_compiled and self.compiled_artifact is not None

    @property
    def served(self) -> tuple[str, ArtifactRef]:
        """The flavor and artifact serving loads: the compiled form by default, when kept."""
        compiled = self.compiled_artifact
        if self.serve_compiled and compiled is not None:
            return "onnx", compiled
        return self.flavor, self.artifact

    @property
    def cache_key(self) -> tuple[str, int, str]:
        """The model cache's key: names the served artifact, so flipping the switch loads
        the other form instead of serving a stale one."""
        return (self.model, self.version, self.served[1].sha256)

    def to_dict(self) -> dict[str, Any]:
        """The fields by name, in declaration order, and what serves now (the API's JSON)."""
        return {
            **{f.name: getattr(self, f.name) for f in fields(self)},
            "serves_compiled": self.serves_compiled,
        }
