"""The features page's data: views and entities as applied, how fresh each view's
materialization is, and its rows online (written by the last run) and offline."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from ailayer.db.engine import Database
from ailayer.features.definitions_store import FeatureRegistry
from ailayer.features.tables import feature_materializations
from ailayer.pipelines.sizes import OfflineSizes


@dataclass(frozen=True)
class ViewRow:
    name: str
    version: int
    entities: list[str]
    features: list[str]
    source: str | None
    ttl_seconds: float | None
    watermark: datetime | None
    age_seconds: float | None  # now - watermark: how stale the online values may be
    last_run_rows: int | None  # rows the last materialization wrote online
    offline_rows: int | None  # rows in the view's source files (Parquet footers)


@dataclass(frozen=True)
class FeaturesView:
    views: list[ViewRow]
    entities: list[dict[str, Any]]
    services: list[dict[str, Any]]


def features(
    registry: FeatureRegistry,
    db: Database,
    sizes: OfflineSizes,
    tenant_id: str,
    now: datetime | None = None,
) -> FeaturesView:
    """``GET /v1/features`` grouped by kind, with each view's materialization state."""
    now = now or datetime.now(UTC)
    applied = registry.list(tenant_id)
    state = _state(db, tenant_id)
    views = []
    for item in applied:
        if item.get("kind") != "feature_view":
            continue
        spec = item.get("spec") or {}
        mark = state.get((item["name"], item.get("version")))
        watermark = mark[0] if mark else None
        source = _source(spec)
        views.append(
            ViewRow(
                item["name"],
                item.get("version", 0),
                [
                    e.get("name", "") if isinstance(e, dict) else str(e)
                    for e in spec.get("entities") or []
                ],
                [
                    f.get("name") if isinstance(f, dict) else str(f)
                    for f in spec.get("features") or []
                ],
                source,
                spec.get("ttl_seconds"),
                watermark,
                (now - watermark).total_seconds() if watermark else None,
                mark[1] if mark else None,
                _offline_rows(sizes, tenant_id, source),
            )
        )
    return FeaturesView(
        views,
        [i for i in applied if i.get("kind") == "entity"],
        [i for i in applied if i.get("kind") == "feature_service"],
    )


def _state(db: Database, tenant_id: str) -> dict[tuple[str, int], tuple[datetime | None, int]]:
    t = feature_materializations.c
    with db.read() as conn:
        rows = conn.execute(
            select(t.view, t.version, t.watermark, t.run_rows).where(t.tenant_id == tenant_id)
        ).all()
    return {(r.view, r.version): (r.watermark, int(r.run_rows)) for r in rows}


def _source(spec: dict[str, Any]) -> str | None:
    """A Parquet source's path (the one kind whose rows the offline store can count)."""
    source = spec.get("source")
    if isinstance(source, dict) and source.get("type") == "parquet":
        return source.get("path")
    return None


def _offline_rows(sizes: OfflineSizes, tenant_id: str, source: str | None) -> int | None:
    """Rows of a Parquet source under the tenant's offline root; None for other sources."""
    if not source or "://" in source.removeprefix("file://"):
        return None
    try:
        return sizes.size(tenant_id, source)["rows"]
    except Exception:  # a source outside the offline root, or unreadable: not shown
        return None
