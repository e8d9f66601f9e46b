"""Artifact store port and its backends, chosen by URL scheme."""

from ailayer.models.artifacts.base import ArtifactRef, ArtifactStore, open_artifact_store

__all__ = ["ArtifactRef", "ArtifactStore", "open_artifact_store"]
