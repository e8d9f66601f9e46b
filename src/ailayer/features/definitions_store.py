"""Where feature definitions are kept (``FeatureRegistry``, in the metadata database, apart
from the stores of feature values): plan, apply, and every version kept.

``apply`` is declarative: the definitions given are the tenant's whole feature repo, so
objects missing from them are marked removed (their history stays). Each change writes a
new revision with the full JSON spec. A change that would make stored values wrong — a
feature's dtype, or a view's join keys — is refused unless the view declares a higher
``version`` (``FeatureView(..., version=2)``), which gets its own online values.

Concurrent applies for one tenant are serialised by locking the tenant's row (SQLite takes
its write lock up front), and the plan is computed inside that transaction.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, insert, select, update

from ailayer.core.clock import utcnow
from ailayer.core.errors import Conflict, InvalidInput, NotFound
from ailayer.core.ids import new_id
from ailayer.db.engine import Database
from ailayer.db.tables import tenants
from ailayer.features.catalog import Catalog
from ailayer.features.catalog import select as select_refs
from ailayer.features.definitions import FeatureView, from_spec, kind_of
from ailayer.features.tables import feature_object_revisions, feature_objects
from ailayer.governance import audit


@dataclass(frozen=True)
class Change:
    """One object's change; ``details`` says what differs, in words."""

    kind: str
    name: str
    version: int
    details: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "version": self.version,
            "details": list(self.details),
        }


@dataclass(frozen=True)
class Plan:
    added: tuple[Change, ...] = ()
    changed: tuple[Change, ...] = ()
    removed: tuple[Change, ...] = ()
    unchanged: tuple[str, ...] = field(default_factory=tuple)

    @property
    def has_changes(self) -> bool:
        return bool(self.added or self.changed or self.removed)

    def to_dict(self) -> dict[str, Any]:
        return {
            "added": [c.to_dict() for c in self.added],
            "changed": [c.to_dict() for c in self.changed],
            "removed": [c.to_dict() for c in self.removed],
            "unchanged": list(self.unchanged),
        }


def spec_hash(spec: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()


def collect(definitions: Iterable[Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """Specs by (kind, name), with entities used by views included and references checked."""
    objects = list(definitions)
    specs: dict[tuple[str, str], dict[str, Any]] = {}
    for obj in objects:
        key = (kind_of(obj), obj.name)
        if key in specs:
            raise InvalidInput(f"{key[0]} {key[1]!r} is defined twice", field="definitions")
        specs[key] = obj.to_spec()
    for view in (o for o in objects if isinstance(o, FeatureView)):
        for entity in view.entities:
            known = specs.setdefault(("entity", entity.name), entity.to_spec())
            if known != entity.to_spec():
                raise InvalidInput(
                    f"feature view {view.name!r} uses an entity {entity.name!r} that differs "
                    "from the entity defined under that name",
                    field="entities",
                )
    _check_references(objects)
    return specs


def _check_references(objects: list[Any]) -> None:
    catalog = Catalog.of(objects)
    for view in catalog.on_demand.values():
        select_refs(catalog, view.inputs)
    for service in catalog.services.values():
        try:
            select_refs(catalog, service.features, full_names=True)  # type: ignore[arg-type]
        except InvalidInput as exc:
            raise InvalidInput(
                f"feature service {service.name!r}: {exc.message}", field="features"
            ) from None


def _feature_dtypes(spec: dict[str, Any]) -> dict[str, str]:
    if spec["kind"] not in ("feature_view", "on_demand_view"):
        return {}
    return {f["name"]: f["dtype"] for f in spec["features"]}


def _join_keys(spec: dict[str, Any]) -> dict[str, str]:
    return {k: t for e in spec.get("entities", []) for k, t in e["join_keys"].items()}


def breaking_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Changes that would make values stored under the old spec wrong under the new one."""
    old_types, new_types = _feature_dtypes(old), _feature_dtypes(new)
    found = [
        f"feature {name!r} dtype {old_types[name]} → {dtype}"
        for name, dtype in new_types.items()
        if name in old_types and old_types[name] != dtype
    ]
    if old["kind"] == "feature_view" and _join_keys(old) != _join_keys(new):
        found.append(f"join keys {_join_keys(old)} → {_join_keys(new)}")
    return found


def describe(old: dict[str, Any], new: dict[str, Any]) -> tuple[str, ...]:
    """Field-level differences between two specs of one object, for people to read."""
    details = []
    old_types, new_types = _feature_dtypes(old), _feature_dtypes(new)
    details += [f"+ feature {n}" for n in new_types if n not in old_types]
    details += [f"- feature {n}" for n in old_types if n not in new_types]
    details += breaking_changes(old, new)
    for key in sorted(set(old) | set(new)):
        if key not in ("features", "entities") and old.get(key) != new.get(key):
            details.append(f"{key}: {_short(old.get(key))} → {_short(new.get(key))}")
    if old.get("features") != new.get("features") and not details:
        details.append("feature defaults, tags or descriptions changed")
    return tuple(details)


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= 80 else text[:77] + "..."


def _check_versions(kind: str, name: str, old: dict[str, Any], new: dict[str, Any]) -> None:
    old_version, new_version = old.get("version", 1), new.get("version", 1)
    if new_version < old_version:
        raise Conflict(
            f"{kind} {name!r} is at version {old_version}; version {new_version} cannot be applied again",
            field="version",
        )
    broken = breaking_changes(old, new)
    if broken and new_version == old_version:
        raise Conflict(
            f"{kind} {name!r}: {'; '.join(broken)} would make stored values wrong; declare "
            f"a new version instead, e.g. FeatureView(..., version={old_version + 1})",
            field="version",
        )


def compute_plan(
    current: dict[tuple[str, str], dict[str, Any]], wanted: dict[tuple[str, str], dict[str, Any]]
) -> Plan:
    """``current`` holds each object's latest spec with ``active`` and ``spec``."""
    added, changed, removed, unchanged = [], [], [], []
    for (kind, name), spec in sorted(wanted.items()):
        row = current.get((kind, name))
        version = spec.get("version", 1)
        if row is not None:
            _check_versions(kind, name, row["spec"], spec)
        if row is None or not row["active"]:
            added.append(Change(kind, name, version))
        elif spec_hash(row["spec"]) != spec_hash(spec):
            changed.append(Change(kind, name, version, describe(row["spec"], spec)))
        else:
            unchanged.append(f"{kind}/{name}")
    for (kind, name), row in sorted(current.items()):
        if row["active"] and (kind, name) not in wanted:
            removed.append(Change(kind, name, row["spec"].get("version", 1)))
    return Plan(tuple(added), tuple(changed), tuple(removed), tuple(unchanged))


class FeatureRegistry:
    """Feature definitions per tenant in the metadata database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def plan(self, tenant_id: str, definitions: Iterable[Any]) -> Plan:
        """What ``apply`` would do, without doing it."""
        wanted = collect(definitions)
        with self.db.read() as conn:
            return compute_plan(self._current(conn, tenant_id), wanted)

    def apply(self, tenant_id: str, actor: str, definitions: Iterable[Any]) -> Plan:
        wanted = collect(definitions)
        with self.db.write() as conn:
            self._lock_tenant(conn, tenant_id)
            current = self._current(conn, tenant_id)
            plan = compute_plan(current, wanted)
            for change in plan.added + plan.changed:
                key = (change.kind, change.name)
                self._write(
                    conn, tenant_id, actor, current.get(key), wanted[key], change, active=True
                )
            for change in plan.removed:
                row = current[(change.kind, change.name)]
                self._write(conn, tenant_id, actor, row, row["spec"], change, active=False)
            if plan.has_changes:
                audit.record(conn, tenant_id, actor, "features.apply", "features", **_summary(plan))
        return plan

    def _lock_tenant(self, conn: Connection, tenant_id: str) -> None:
        found = conn.execute(
            select(tenants.c.id).where(tenants.c.id == tenant_id).with_for_update()
        ).first()
        if found is None:
            raise NotFound(f"unknown tenant {tenant_id!r}")

    def _current(self, conn: Connection, tenant_id: str) -> dict[tuple[str, str], dict[str, Any]]:
        rows = conn.execute(select(feature_objects).where(feature_objects.c.tenant_id == tenant_id))
        return {(r.kind, r.name): dict(r._mapping) for r in rows}

    def _write(
        self,
        conn: Connection,
        tenant_id: str,
        actor: str,
        row: dict[str, Any] | None,
        spec: dict[str, Any],
        change: Change,
        *,
        active: bool,
    ) -> None:
        """Update the object's current spec and add its next revision."""
        now, digest = utcnow(), spec_hash(spec)
        values = dict(
            version=change.version,
            spec=spec,
            spec_sha256=digest,
            active=active,
            updated_at=now,
            updated_by=actor,
        )
        if row is None:
            object_id, revision = new_id(), 1
            conn.execute(
                insert(feature_objects).values(
                    id=object_id,
                    tenant_id=tenant_id,
                    kind=change.kind,
                    name=change.name,
                    revision=1,
                    created_at=now,
                    **values,
                )
            )
        else:
            object_id, revision = row["id"], row["revision"] + 1
            conn.execute(
                update(feature_objects)
                .where(feature_objects.c.id == object_id)
                .values(revision=revision, **values)
            )
        kind = "removed" if not active else "changed" if row and row["active"] else "added"
        revision_values = dict(revision=revision, version=change.version, change=kind)
        conn.execute(
            insert(feature_object_revisions).values(
                id=new_id(),
                tenant_id=tenant_id,
                object_id=object_id,
                spec=spec,
                spec_sha256=digest,
                created_at=now,
                created_by=actor,
                **revision_values,
            )
        )

    # reads -------------------------------------------------------------------
    def list(
        self, tenant_id: str, kind: str | None = None, *, include_removed: bool = False
    ) -> list[dict[str, Any]]:
        query = select(feature_objects).where(feature_objects.c.tenant_id == tenant_id)
        if kind is not None:
            query = query.where(feature_objects.c.kind == kind)
        if not include_removed:
            query = query.where(feature_objects.c.active.is_(True))
        with self.db.read() as conn:
            rows = conn.execute(query.order_by(feature_objects.c.kind, feature_objects.c.name))
            return [_public(r._mapping) for r in rows]

    def get(self, tenant_id: str, kind: str, name: str) -> dict[str, Any]:
        with self.db.read() as conn:
            row = conn.execute(self._object_query(tenant_id, kind, name)).first()
        if row is None:
            raise NotFound(f"no {kind} named {name!r}")
        return _public(row._mapping)

    def versions(self, tenant_id: str, kind: str, name: str) -> list[dict[str, Any]]:
        """Every revision of one object, oldest first, each with its full spec."""
        with self.db.read() as conn:
            row = conn.execute(self._object_query(tenant_id, kind, name)).first()
            if row is None:
                raise NotFound(f"no {kind} named {name!r}")
            revisions = conn.execute(
                select(feature_object_revisions)
                .where(feature_object_revisions.c.object_id == row.id)
                .order_by(feature_object_revisions.c.revision)
            )
            keep = (
                "revision",
                "version",
                "change",
                "spec",
                "spec_sha256",
                "created_at",
                "created_by",
            )
            return [{k: r._mapping[k] for k in keep} for r in revisions]

    def _object_query(self, tenant_id: str, kind: str, name: str):  # type: ignore[no-untyped-def]
        return select(feature_objects).where(
            feature_objects.c.tenant_id == tenant_id,
            feature_objects.c.kind == kind,
            feature_objects.c.name == name,
        )

    def catalog(self, tenant_id: str) -> Catalog:
        """The tenant's active definitions as objects (on-demand views without functions)."""
        with self.db.read() as conn:
            rows = conn.execute(
                select(feature_objects).where(
                    feature_objects.c.tenant_id == tenant_id, feature_objects.c.active.is_(True)
                )
            ).all()
        revisions = {
            (r.kind, r.name): {
                "revision": r.revision,
                "version": r.version,
                "spec_sha256": r.spec_sha256,
            }
            for r in rows
        }
        return Catalog.of([from_spec(r.spec) for r in rows], revisions)


def _public(row: Any) -> dict[str, Any]:
    keep = (
        "kind",
        "name",
        "version",
        "revision",
        "spec",
        "spec_sha256",
        "active",
        "created_at",
        "updated_at",
        "updated_by",
    )
    return {k: row[k] for k in keep}


def _summary(plan: Plan) -> dict[str, list[str]]:
    return {
        name: [f"{c.kind}/{c.name}" for c in changes]
        for name, changes in (
            ("added", plan.added),
            ("changed", plan.changed),
            ("removed", plan.removed),
        )
    }
