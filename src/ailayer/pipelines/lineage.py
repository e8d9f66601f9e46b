"""Lineage of a model version, from the data to where it serves:

    sources → feature views (the revisions trained on) → dataset version → pipeline run
            → model version → deployments

Each link is what was recorded at the time: the dataset keeps the feature definition
revisions it used, and their specs (sources included) are read at those revisions, so a
view changed since shows as it was. A link that was never recorded (a version uploaded by
hand has no run) is ``None``; one recorded but since gone is marked ``missing``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from ailayer.core.errors import NotFound
from ailayer.db.engine import Database
from ailayer.db.tables import deployments
from ailayer.features.definitions_store import FeatureRegistry
from ailayer.features.offline import OfflineStore
from ailayer.models.service import ModelRegistry
from ailayer.pipelines.runs import RunStore


class Lineage:
    def __init__(
        self,
        registry: ModelRegistry,
        features: FeatureRegistry,
        offline: OfflineStore,
        runs: RunStore,
        db: Database,
    ) -> None:
        self.registry = registry
        self.features = features
        self.offline = offline
        self.runs = runs
        self.db = db

    def of(self, tenant_id: str, model: str, version: int) -> dict[str, Any]:
        """The version's lineage as JSON (``NotFound`` for an unknown version)."""
        found = self.registry.get_version(tenant_id, model, version)
        dataset = self._dataset(tenant_id, found.dataset_version)
        views = self._views(tenant_id, (dataset or {}).get("definitions") or {})
        return {
            "sources": _sources(views),
            "feature_views": views,
            "dataset": dataset,
            "run": self._run(tenant_id, found.pipeline_run),
            "model": {
                "name": model,
                "version": version,
                "aliases": found.aliases,
                "flavor": found.flavor,
                "artifact_sha256": found.artifact_sha256,
                "feature_refs": found.feature_refs,
                "code_version": found.code_version,
                "metrics": found.metrics,
                "created_at": found.created_at,
                "created_by": found.created_by,
            },
            "deployments": self._deployments(tenant_id, model, version),
        }

    def _dataset(self, tenant_id: str, dataset_version: str | None) -> dict[str, Any] | None:
        if dataset_version is None:
            return None
        try:
            record = self.offline.dataset(tenant_id, dataset_version)
        except NotFound:
            return {"id": dataset_version, "missing": True}
        keep = (
            "id",
            "content_sha256",
            "row_count",
            "features",
            "definitions",
            "start_at",
            "end_at",
        )
        return {k: getattr(record, k) for k in keep}

    def _views(self, tenant_id: str, definitions: dict[str, Any]) -> list[dict[str, Any]]:
        views = []
        for name, used in sorted(definitions.items()):
            kind, revision = used.get("kind", "feature_view"), used.get("revision")
            spec = self._spec_at(tenant_id, kind, name, revision)
            views.append(
                {
                    "kind": kind,
                    "name": name,
                    "version": used.get("version"),
                    "revision": revision,
                    "source": (spec or {}).get("source"),
                    "inputs": (spec or {}).get("inputs"),
                    "missing": spec is None,
                }
            )
        return views

    def _spec_at(
        self, tenant_id: str, kind: str, name: str, revision: int | None
    ) -> dict[str, Any] | None:
        try:
            revisions = self.features.versions(tenant_id, kind, name)
        except NotFound:
            return None
        return next((r["spec"] for r in revisions if r["revision"] == revision), None)

    def _run(self, tenant_id: str, run_id: str | None) -> dict[str, Any] | None:
        if run_id is None:
            return None
        try:
            run = self.runs.get(tenant_id, run_id)
        except NotFound:
            return {"id": run_id, "missing": True}
        keep = (
            "id", "pipeline", "status", "trigger", "actor", "reproduces", "params", "seed",
            "code_version", "packages", "metrics", "gate_report", "rollout", "created_at",
            "finished_at",
        )  # fmt: skip
        return {k: getattr(run, k) for k in keep}

    def _deployments(self, tenant_id: str, model: str, version: int) -> list[dict[str, Any]]:
        with self.db.read() as conn:
            rows = conn.execute(
                select(deployments)
                .where(deployments.c.tenant_id == tenant_id)
                .order_by(deployments.c.endpoint)
            ).all()
        found = []
        for row in rows:
            for variant in row.policy.get("variants", []):
                if variant.get("model") == model and variant.get("version") == version:
                    found.append(
                        {
                            "endpoint": row.endpoint,
                            "kind": row.kind,
                            "state": row.state,
                            "revision": row.revision,
                            "variant": variant.get("name"),
                            "share": variant.get("share"),
                            "shadow": bool(variant.get("shadow")),
                        }
                    )
        return found


def _sources(views: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each distinct source of the views, with the views that read it."""
    found: dict[str, dict[str, Any]] = {}
    for view in views:
        source = view.get("source")
        if not source:
            continue
        key = repr(sorted(source.items()))
        entry = found.setdefault(key, {**source, "views": []})
        entry["views"].append(view["name"])
    return list(found.values())
