"""Tenant quotas: models, feature views, stored bytes and events a day.

Each check runs before the write it guards and refuses with ``QuotaExceeded`` (403)
naming the quota's setting, its limit and the tenant's use. Limits come from the
``limits`` settings (core/limits.py), a tenant's override found by its name or id. Stored
bytes are the model artifacts' sizes (every version kept) plus, when the composition root
passes ``offline_bytes``, the files ailayer wrote in the tenant's offline folder: saved
training sets (``datasets/``), the prediction log and feedback (``_predictions/``,
``_feedback/``) and stream views' logs (``streams/``) — not the customer's own sources.
Those are sized from the files at most every ``OFFLINE_TTL`` seconds per tenant (a
registration is rare; a listing per one is not needed). The online store and the metadata
database are not counted (neither reports a tenant's share cheaply). Every registration
— over the API or by a pipeline run's register step — goes through
``check_model_version``. Events a day are counted per
UTC day in ``tenant_usage`` by one conditional update, so replicas share the count and
a batch that would pass the limit is refused whole.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from sqlalchemy import Connection, func, select
from sqlalchemy.dialects import postgresql, sqlite

from ailayer.core.errors import QuotaExceeded
from ailayer.core.limits import Limits, TenantLimits
from ailayer.db.engine import Database
from ailayer.db.tables import model_versions, registered_models, tenant_usage, tenants

VIEW_KINDS = ("feature_view", "on_demand_view")
OFFLINE_TTL = 60.0


class Quotas:
    def __init__(
        self,
        db: Database,
        limits: Limits,
        offline_bytes: Callable[[str], int] | None = None,
        ttl: float = OFFLINE_TTL,
    ) -> None:
        self.db = db
        self.limits = limits
        self.offline_bytes = offline_bytes
        self.ttl = ttl
        self._sized: dict[str, tuple[float, int]] = {}
        self._lock = threading.Lock()
        self.on = any(
            getattr(rule, quota) is not None
            for rule in (limits, *limits.tenants.values())
            for quota in (
                "max_models",
                "max_feature_views",
                "max_stored_bytes",
                "max_events_per_day",
            )
        )

    def of(self, conn: Connection, tenant_id: str) -> TenantLimits:
        name = conn.execute(select(tenants.c.name).where(tenants.c.id == tenant_id)).scalar()
        return self.limits.of(*(n for n in (name, tenant_id) if n is not None))

    def check_model_version(self, tenant_id: str, model: str, artifact_bytes: int) -> None:
        """Before registering a version of ``model``: a new model within ``max_models``,
        its bytes within ``max_stored_bytes``."""
        if not self.on:
            return
        with self.db.read() as conn:
            limits = self.of(conn, tenant_id)
            if limits.max_models is not None and not _model_exists(conn, tenant_id, model):
                used = conn.execute(
                    select(func.count()).where(registered_models.c.tenant_id == tenant_id)
                ).scalar_one()
                _within("max_models", limits.max_models, used, 1, "models")
            if limits.max_stored_bytes is not None:
                used = conn.execute(
                    select(func.coalesce(func.sum(model_versions.c.artifact_size), 0)).where(
                        model_versions.c.tenant_id == tenant_id
                    )
                ).scalar_one()
                used = int(used) + self.stored_offline(tenant_id)
                _within("max_stored_bytes", limits.max_stored_bytes, used, artifact_bytes, "bytes")

    def stored_offline(self, tenant_id: str) -> int:
        """Bytes of the files ailayer wrote for the tenant offline (cached ``ttl`` s)."""
        if self.offline_bytes is None:
            return 0
        now = time.monotonic()
        with self._lock:
            cached = self._sized.get(tenant_id)
        if cached is not None and now - cached[0] < self.ttl:
            return cached[1]
        size = int(self.offline_bytes(tenant_id))
        with self._lock:
            self._sized[tenant_id] = (now, size)
        return size

    def check_feature_views(self, tenant_id: str, kinds: Iterable[str]) -> None:
        """Before applying definitions (which replace the tenant's set): the views they
        declare within ``max_feature_views``."""
        if not self.on:
            return
        with self.db.read() as conn:
            limit = self.of(conn, tenant_id).max_feature_views
        if limit is not None:
            views = sum(1 for kind in kinds if kind in VIEW_KINDS)
            if views > limit:
                raise QuotaExceeded(
                    f"quota max_feature_views is {limit}; the definitions declare {views} "
                    "feature views",
                    field="max_feature_views",
                )

    def take_events(self, tenant_id: str, count: int, now: datetime | None = None) -> None:
        """Count ``count`` events against today's ``max_events_per_day``, or refuse them
        all (nothing counted)."""
        if not self.on or count <= 0:
            return
        day = (now or datetime.now(UTC)).strftime("%Y-%m-%d")
        with self.db.write() as conn:
            limit = self.of(conn, tenant_id).max_events_per_day
            if limit is None:
                return
            make = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
            conn.execute(
                make(tenant_usage)
                .values(tenant_id=tenant_id, day=day, events=0)
                .on_conflict_do_nothing(index_elements=["tenant_id", "day"])
            )
            row = (tenant_usage.c.tenant_id == tenant_id) & (tenant_usage.c.day == day)
            taken = conn.execute(
                tenant_usage.update()
                .where(row, tenant_usage.c.events + count <= limit)
                .values(events=tenant_usage.c.events + count)
            ).rowcount
            if not taken:
                used = conn.execute(select(tenant_usage.c.events).where(row)).scalar_one()
                _within("max_events_per_day", limit, used, count, f"events on {day} (UTC)")


def _model_exists(conn: Connection, tenant_id: str, model: str) -> bool:
    found = conn.execute(
        select(registered_models.c.id).where(
            registered_models.c.tenant_id == tenant_id, registered_models.c.name == model
        )
    ).first()
    return found is not None


def _within(quota: str, limit: int, used: int, adding: int, unit: str) -> None:
    if used + adding > limit:
        raise QuotaExceeded(
            f"quota {quota} is {limit} {unit}; the tenant uses {used} and this adds {adding}",
            field=quota,
        )
