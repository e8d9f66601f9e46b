"""The feature store's part of data subject requests (``governance.privacy``).

- ``OnlineSubjects``: the online values of every view version holding rows (applied,
  older, removed) whose keys include the subject's key, composite keys too;
- ``OfflineSubjects``: what ailayer wrote in the tenant's offline folder — saved training
  sets (``datasets/``, their dataset records updated to the rows left) and stream views'
  logs (``streams/<view>@<v>/values`` by key column, ``…/events`` by the key in the event
  data, which is what a restarted stream runner rebuilds its window state from);
- ``CustomerSources``: the sources of views keyed by the subject's key, which the customer
  owns (their Parquet files, their PostgreSQL tables): reported, never changed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import orjson
from sqlalchemy import update

from ailayer.core.errors import InvalidInput, NotFound
from ailayer.db.engine import Database
from ailayer.db.tenants import tenant_ids
from ailayer.events.deadletter import dead_letter_topic
from ailayer.features.datasets import content_hash
from ailayer.features.definitions import FeatureView
from ailayer.features.definitions_store import FeatureRegistry
from ailayer.features.files import Folder
from ailayer.features.files.rows import Match, find_rows, remove_rows
from ailayer.features.offline import OfflineStore
from ailayer.features.stores.online import OnlineStore, entity_key
from ailayer.features.streaming.runner import stream_group
from ailayer.features.streaming.spec import StreamSource, events_path
from ailayer.features.tables import feature_datasets
from ailayer.governance.privacy.subject import Erased, Found, Subject


def json_ready(record: dict[str, Any]) -> dict[str, Any]:
    """A record as plain JSON values (times as ISO 8601 text)."""
    return orjson.loads(orjson.dumps(record, default=str, option=orjson.OPT_NON_STR_KEYS))


def stream_dead_letter_topics(registry: FeatureRegistry) -> Callable[[str], list[str]]:
    """A tenant's stream views' dead-letter topics (``<topic>-dlq``, where a stream runner
    sends the events it could not apply): what ``events.privacy`` searches for it."""

    def topics(tenant_id: str) -> list[str]:
        return sorted(
            {
                dead_letter_topic(view.source.topic)
                for view in registry.catalog(tenant_id).views.values()
                if isinstance(view.source, StreamSource)
            }
        )

    return topics


def stream_topics(
    registry: FeatureRegistry, db: Database, groups: Mapping[str, Iterable[str]] | None = None
) -> Callable[[str], dict[str, set[str]]]:
    """A tenant's stream views' source topics, each with the groups known to read it: the
    stream groups of every tenant's views on it (a topic carries every tenant's events, and
    each tenant's view reads them in its own group, one per view version) and the groups
    ``groups`` names for it (the ``console_topics`` setting). On a queue broker each of
    those groups keeps its own copy of the events (``events.privacy``)."""
    named = {topic: set(names) for topic, names in (groups or {}).items()}

    def topics(tenant_id: str) -> dict[str, set[str]]:
        wanted = {view.source.topic for view in _stream_views(registry, tenant_id)}
        found: dict[str, set[str]] = {topic: set(named.get(topic, ())) for topic in wanted}
        for tenant in tenant_ids(db) if wanted else []:
            for view in _stream_views(registry, tenant):
                if view.source.topic in wanted:
                    versions = {r["version"] for r in _revisions(registry, tenant, view.name)}
                    found[view.source.topic] |= {
                        stream_group(tenant, view.name, version)
                        for version in versions | {view.version}
                    }
        return found

    return topics


def _stream_views(registry: FeatureRegistry, tenant_id: str) -> list[Any]:
    views = registry.catalog(tenant_id).views.values()
    return [view for view in views if isinstance(view.source, StreamSource)]


def _revisions(registry: FeatureRegistry, tenant_id: str, name: str) -> list[dict[str, Any]]:
    try:
        return registry.versions(tenant_id, "feature_view", name)
    except NotFound:
        return []


def keyed_views(registry: FeatureRegistry, tenant_id: str, key: str) -> list[FeatureView]:
    """The tenant's applied views whose entities have ``key`` among their join keys."""
    return [v for v in registry.catalog(tenant_id).views.values() if key in v.join_keys]


@dataclass(frozen=True)
class Namespace:
    """One view version's rows online, and how its keys hold the subject's."""

    name: str  # ``view@version``
    join_keys: list[str]  # in entity-key order
    features: list[str]
    value: Any  # the subject's value as this version's key type holds it

    @property
    def single(self) -> bool:
        return len(self.join_keys) == 1


class OnlineSubjects:
    """Every namespace of the tenant's online rows — the applied version of each view,
    older versions and removed views alike, whose rows stay until deleted — read with the
    definition of that version (the registry keeps every revision). A view keyed by the
    subject's key alone is looked up by key; a composite key is searched row by row
    (``OnlineStore.scan``) for the subject's value in its position."""

    name = "online_store"

    def __init__(self, registry: FeatureRegistry, online: OnlineStore) -> None:
        self.registry = registry
        self.online = online

    def _namespaces(self, tenant_id: str, subject: Subject) -> tuple[list[Namespace], list[str]]:
        """The namespaces whose keys include the subject's; those of unknown definition."""
        found, unknown, refused = [], [], []
        history: dict[str, list[dict[str, Any]]] = {}
        for namespace in self.online.views(tenant_id):
            name, _, version = namespace.rpartition("@")
            spec = _spec_of(self.registry, tenant_id, name, version, history)
            if spec is None:
                unknown.append(namespace)
                continue
            keys = {k: t for e in spec.get("entities", []) for k, t in e["join_keys"].items()}
            if subject.key in keys:
                try:
                    value = subject.typed(keys[subject.key])
                except InvalidInput as exc:  # this version's key type cannot hold it
                    refused.append(exc)
                    continue
                features = [f["name"] for f in spec.get("features", [])]
                found.append(Namespace(namespace, list(keys), features, value))
        if refused and not found:  # no version's key could hold it: a mistyped subject
            raise refused[0]
        return found, unknown

    @staticmethod
    def _note(unknown: list[str]) -> str:
        if not unknown:
            return ""
        return f"online rows of unknown definitions not searched: {', '.join(sorted(unknown))}"

    def find(self, tenant_id: str, subject: Subject) -> Found:
        spaces, unknown = self._namespaces(tenant_id, subject)
        found = Found(self.name, note=self._note(unknown))
        for space in spaces:
            rows = _subject_rows(self.online, tenant_id, space, subject.key)
            for key, values in rows:
                found.records.append({"view": space.name, "key": key, "values": values})
            if rows:
                found.where[space.name] = len(rows)
        found.records = [json_ready(r) for r in found.records]
        return found

    def erase(self, tenant_id: str, subject: Subject) -> Erased:
        spaces, unknown = self._namespaces(tenant_id, subject)
        erased = Erased(self.name, note=self._note(unknown))
        for space in spaces:
            keys = [key for key, _ in _subject_rows(self.online, tenant_id, space, subject.key)]
            count = self.online.delete_keys(tenant_id, space.name, keys) if keys else 0
            if count:
                erased.where[space.name] = count
        return erased


def _spec_of(
    registry: FeatureRegistry,
    tenant_id: str,
    name: str,
    version: str,
    history: dict[str, list[dict[str, Any]]],
) -> dict[str, Any] | None:
    """The spec of view ``name`` at ``version`` (its latest revision of that version)."""
    if name not in history:
        try:
            history[name] = registry.versions(tenant_id, "feature_view", name)
        except NotFound:
            history[name] = []
    specs = [r["spec"] for r in history[name] if str(r["version"]) == version]
    return specs[-1] if specs else None


def _subject_rows(
    online: OnlineStore, tenant_id: str, space: Namespace, key_name: str
) -> list[tuple[str, dict[str, Any]]]:
    """(entity key, values) of the subject's rows in one namespace."""
    if space.single:
        key = entity_key([space.value])
        value = online.read_batch(tenant_id, space.name, [key], space.features)[0]
        return [] if value is None else [(key, value.values)]
    position, width = space.join_keys.index(key_name), len(space.join_keys)
    rows = []
    for key, value in online.scan(tenant_id, space.name):
        parts = orjson.loads(key)
        if isinstance(parts, list) and len(parts) == width and parts[position] == space.value:
            rows.append((key, value.values))
    return rows


class DerivedProfiles(Protocol):
    """Drift references profiled from a saved training set
    (``monitoring.endpoint.privacy.DatasetReferences``)."""

    def built_from(self, tenant_id: str, dataset_id: str) -> list[str]: ...

    def forget(self, tenant_id: str, dataset_id: str) -> list[str]: ...


class OfflineSubjects:
    name = "offline_store"

    def __init__(
        self, offline: OfflineStore, db: Database, references: DerivedProfiles | None = None
    ) -> None:
        self.offline = offline
        self.db = db
        self.references = references

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
                dataset = _dataset_id(name)
                if dataset is not None and self.references is not None:
                    for reference in self.references.built_from(tenant_id, dataset):
                        found.where[reference] = 1
                        found.records.append({"drift_reference": reference, "dataset": dataset})
        return found

    def erase(self, tenant_id: str, subject: Subject) -> Erased:
        root = self.offline.tenant_root(tenant_id)
        erased = Erased(self.name)
        for files, match in self._groups(tenant_id, subject):
            held, gone = set(), set()
            if self.references is not None:  # forgotten first: none profiled meanwhile
                for location in find_rows(root, files, match):
                    dataset = _dataset_id(_name(root, location))
                    if dataset is not None:
                        held.add(dataset)
                        gone.update(self.references.forget(tenant_id, dataset))
            for location, count in remove_rows(root, files, match).items():
                name = _name(root, location)
                erased.where[name] = count
                if name.startswith("datasets/"):
                    self._recount(tenant_id, root, location, name)
            for dataset in held:  # and after, in case one was profiled just before
                gone.update(self.references.forget(tenant_id, dataset))  # type: ignore[union-attr]
            erased.where |= dict.fromkeys(sorted(gone), 1)
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


def _dataset_id(name: str) -> str | None:
    """The saved training set a file under the offline folder is, if it is one."""
    if name.startswith("datasets/") and name.endswith(".parquet"):
        return name.removeprefix("datasets/").removesuffix(".parquet")
    return None


def _name(root: Folder, location: str) -> str:
    base = root.location().rstrip("/") + "/"
    return location.removeprefix(base)
