"""The feature store's part of data subject requests (``governance.privacy``).

- ``OnlineSubjects``: the online values of every applied view keyed by the subject's key
  alone (a view of a composite key is named in the note, not searched);
- ``OfflineSubjects``: what ailayer wrote in the tenant's offline folder — saved training
  sets (``datasets/``, their dataset records updated to the rows left) and stream views'
  logs (``streams/<view>@<v>/values`` by key column, ``…/events`` by the key in the event
  data, which is what a restarted stream runner rebuilds its window state from);
- ``CustomerSources``: the sources of views keyed by the subject's key, which the customer
  owns (their Parquet files, their PostgreSQL tables): reported, never changed.
"""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import update

from ailayer.db.engine import Database
from ailayer.features.catalog import storage_name
from ailayer.features.datasets import content_hash
from ailayer.features.definitions import FeatureView
from ailayer.features.definitions_store import FeatureRegistry
from ailayer.features.files import Folder
from ailayer.features.files.rows import Match, find_rows, remove_rows
from ailayer.features.offline import OfflineStore
from ailayer.features.stores.online import OnlineStore, entity_key
from ailayer.features.streaming.spec import StreamSource, events_path
from ailayer.features.tables import feature_datasets
from ailayer.governance.privacy.subject import Erased, Found, Subject


def json_ready(record: dict[str, Any]) -> dict[str, Any]:
    """A record as plain JSON values (times as ISO 8601 text)."""
    return orjson.loads(orjson.dumps(record, default=str, option=orjson.OPT_NON_STR_KEYS))


def keyed_views(registry: FeatureRegistry, tenant_id: str, key: str) -> list[FeatureView]:
    """The tenant's applied views whose entities have ``key`` among their join keys."""
    return [v for v in registry.catalog(tenant_id).views.values() if key in v.join_keys]


class OnlineSubjects:
    name = "online_store"

    def __init__(self, registry: FeatureRegistry, online: OnlineStore) -> None:
        self.registry = registry
        self.online = online

    def _views(self, tenant_id: str, subject: Subject) -> tuple[list, list[str]]:
        views, composite = [], []
        for view in keyed_views(self.registry, tenant_id, subject.key):
            if len(view.join_keys) == 1:
                key = entity_key([subject.typed(view.join_keys[subject.key])])
                views.append((view, key))
            else:
                composite.append(view.name)
        return views, composite

    @staticmethod
    def _note(composite: list[str]) -> str:
        if not composite:
            return ""
        return f"views with composite keys not searched: {', '.join(sorted(composite))}"

    def find(self, tenant_id: str, subject: Subject) -> Found:
        views, composite = self._views(tenant_id, subject)
        found = Found(self.name, note=self._note(composite))
        for view, key in views:
            names = [f.name for f in view.features]  # type: ignore[union-attr]
            value = self.online.read_batch(tenant_id, storage_name(view), [key], names)[0]
            if value is not None:
                found.records.append({"view": storage_name(view), "values": value.values})
                found.where[storage_name(view)] = 1
        found.records = [json_ready(r) for r in found.records]
        return found

    def erase(self, tenant_id: str, subject: Subject) -> Erased:
        views, composite = self._views(tenant_id, subject)
        erased = Erased(self.name, note=self._note(composite))
        for view, key in views:
            count = self.online.delete_keys(tenant_id, storage_name(view), [key])
            if count:
                erased.where[storage_name(view)] = count
        return erased


class OfflineSubjects:
    name = "offline_store"

    def __init__(self, offline: OfflineStore, db: Database) -> None:
        self.offline = offline
        self.db = db

    def _groups(self, tenant_id: str, subject: Subject) -> list[tuple[list[str], Match]]:
        """(files, match) for each kind of file that may hold the subject."""
        root = self.offline.tenant_root(tenant_id)
        values = (subject.value,)
        column = Match(subject.key, values)
        groups = [(root.glob("datasets/*.parquet"), column)]
        for view in self.offline.registry.catalog(tenant_id).views.values():
            if isinstance(view.source, StreamSource) and subject.key in view.join_keys:
                groups.append((root.child(view.source.path).glob("*.parquet"), column))
                events = root.child(events_path(view.name, view.version)).glob("*.parquet")
                groups.append((events, Match("data", values, json_key=subject.key)))
        return groups

    def find(self, tenant_id: str, subject: Subject) -> Found:
        root = self.offline.tenant_root(tenant_id)
        found = Found(self.name)
        for files, match in self._groups(tenant_id, subject):
            for location, rows in find_rows(root, files, match).items():
                name = _name(root, location)
                found.where[name] = len(rows)
                found.records += [json_ready({"file": name, "row": r}) for r in rows]
        return found

    def erase(self, tenant_id: str, subject: Subject) -> Erased:
        root = self.offline.tenant_root(tenant_id)
        erased = Erased(self.name)
        for files, match in self._groups(tenant_id, subject):
            for location, count in remove_rows(root, files, match).items():
                name = _name(root, location)
                erased.where[name] = count
                if name.startswith("datasets/"):
                    self._recount(tenant_id, root, location, name)
        return erased

    def _recount(self, tenant_id: str, root: Folder, location: str, name: str) -> None:
        """A saved training set's record follows its rows: count and content hash."""
        table = root.read_parquet(location)
        dataset_id = name.removeprefix("datasets/").removesuffix(".parquet")
        with self.db.write() as conn:
            conn.execute(
                update(feature_datasets)
                .where(
                    feature_datasets.c.tenant_id == tenant_id,
                    feature_datasets.c.id == dataset_id,
                )
                .values(row_count=table.num_rows, content_sha256=content_hash(table))
            )


class CustomerSources:
    """Reported, not touched: the sources the customer owns and erases there."""

    name = "customer_sources"

    def __init__(self, registry: FeatureRegistry) -> None:
        self.registry = registry

    def _sources(self, tenant_id: str, subject: Subject) -> dict[str, int]:
        return {
            f"{view.name}: {_describe(view.source.to_spec())}": 0
            for view in keyed_views(self.registry, tenant_id, subject.key)
            if not isinstance(view.source, StreamSource)
        }

    def find(self, tenant_id: str, subject: Subject) -> Found:
        sources = self._sources(tenant_id, subject)
        return Found(self.name, where=sources, untouched=True, note=_OWNED if sources else "")

    def erase(self, tenant_id: str, subject: Subject) -> Erased:
        sources = self._sources(tenant_id, subject)
        return Erased(self.name, where=sources, untouched=True, note=_OWNED if sources else "")


_OWNED = (
    "sources owned by the customer may hold this subject; ailayer does not change them: "
    "erase the subject there (its tombstone keeps it out of materialization meanwhile)"
)


def _describe(spec: dict[str, Any]) -> str:
    kind = spec.get("type", "source")
    where = spec.get("path") or spec.get("table") or ""
    return f"{kind} {where}".strip()


def _name(root: Folder, location: str) -> str:
    base = root.location().rstrip("/") + "/"
    return location.removeprefix(base)
