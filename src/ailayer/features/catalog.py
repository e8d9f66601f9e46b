"""A tenant's applied definitions, and the resolution of feature refs against them.

Training (``offline.py``) and online retrieval (``retrieval.py``) both turn "these
features" — a feature service name or a list of ``view:feature`` refs — into the same
``Selection``, so the two paths fetch the same columns and run the same transforms.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ailayer.core.errors import InvalidInput, NotFound
from ailayer.features.definitions import (
    Entity,
    FeatureService,
    FeatureView,
    OnDemandView,
    parse_ref,
)


@dataclass(frozen=True)
class Catalog:
    """Active definitions of one tenant, with the revision each was applied as."""

    entities: Mapping[str, Entity] = field(default_factory=dict)
    views: Mapping[str, FeatureView] = field(default_factory=dict)
    on_demand: Mapping[str, OnDemandView] = field(default_factory=dict)
    services: Mapping[str, FeatureService] = field(default_factory=dict)
    revisions: Mapping[tuple[str, str], dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def of(cls, objects: Iterable[Any], revisions: Mapping | None = None) -> Catalog:
        by_type: dict[type, dict[str, Any]] = {
            Entity: {},
            FeatureView: {},
            OnDemandView: {},
            FeatureService: {},
        }
        for obj in objects:
            kind = next((k for k in by_type if isinstance(obj, k)), None)
            if kind is None:
                raise InvalidInput(
                    f"{obj!r} is not an Entity, FeatureView, OnDemandView or FeatureService",
                    field="definitions",
                )
            by_type[kind][obj.name] = obj  # subclasses count as their base kind
        return cls(
            by_type[Entity],
            by_type[FeatureView],
            by_type[OnDemandView],
            by_type[FeatureService],
            dict(revisions or {}),
        )

    def refs_for(self, features: str | Iterable[str]) -> tuple[str, ...]:
        """A feature service's refs, or the given refs as they are."""
        if isinstance(features, str):
            service = self.services.get(features)
            if service is None:
                raise NotFound(f"unknown feature service {features!r}")
            return tuple(service.features)  # type: ignore[arg-type]
        refs = tuple(features)
        if not refs:
            raise InvalidInput("features must not be empty", field="features")
        return refs

    def select(self, features: str | Iterable[str], *, full_names: bool = False) -> Selection:
        return select(self, self.refs_for(features), full_names=full_names)


@dataclass(frozen=True)
class Output:
    """One requested feature: where it comes from and the column it becomes."""

    view: str
    feature: str
    column: str
    on_demand: bool

    @property
    def internal(self) -> str:
        return internal_name(self.view, self.feature)


@dataclass(frozen=True)
class Selection:
    """What to fetch per view (requested features plus on-demand inputs) and what to return."""

    views: Mapping[str, tuple[FeatureView, tuple[str, ...]]]
    on_demand: tuple[OnDemandView, ...]
    outputs: tuple[Output, ...]
    definitions: Mapping[str, dict[str, Any]]

    @property
    def join_keys(self) -> dict[str, str]:
        return {k: t for view, _ in self.views.values() for k, t in view.join_keys.items()}


def storage_name(view: FeatureView) -> str:
    """The online namespace of one version of a view: its values never mix with another's."""
    return f"{view.name}@{view.version}"


def internal_name(view: str, feature: str) -> str:
    return f"{view}__{feature}"


def select(catalog: Catalog, refs: Iterable[str], *, full_names: bool = False) -> Selection:
    """Resolve refs; every unknown one is named in a single InvalidInput."""
    wanted: dict[str, list[str]] = {}
    on_demand: dict[str, OnDemandView] = {}
    outputs: list[Output] = []
    unknown: list[str] = []
    for ref in refs:
        view_name, feature = parse_ref(ref)
        view = catalog.views.get(view_name) or catalog.on_demand.get(view_name)
        if view is None or not any(f.name == feature for f in view.features):  # type: ignore[union-attr]
            unknown.append(ref)
            continue
        column = internal_name(view_name, feature) if full_names else feature
        outputs.append(Output(view_name, feature, column, isinstance(view, OnDemandView)))
        if isinstance(view, OnDemandView):
            on_demand[view_name] = view
            for input_ref in view.inputs:
                _want(catalog, wanted, input_ref, unknown)
        else:
            wanted.setdefault(view_name, []).append(feature)
    if unknown:
        raise InvalidInput(f"unknown features: {', '.join(unknown)}", field="features")
    _check_columns(outputs)
    views = {name: (catalog.views[name], tuple(dict.fromkeys(fs))) for name, fs in wanted.items()}
    return Selection(
        views, tuple(on_demand.values()), tuple(outputs), _definitions(catalog, views, on_demand)
    )


def _want(catalog: Catalog, wanted: dict[str, list[str]], ref: str, unknown: list[str]) -> None:
    view_name, feature = parse_ref(ref, "inputs")
    view = catalog.views.get(view_name)
    if view is None or view.feature(feature) is None:
        unknown.append(ref)
    else:
        wanted.setdefault(view_name, []).append(feature)


def _check_columns(outputs: list[Output]) -> None:
    columns = [o.column for o in outputs]
    clashes = sorted({c for c in columns if columns.count(c) > 1})
    if clashes:
        raise InvalidInput(
            f"features {', '.join(clashes)} are requested from several views; ask for "
            "full_names=True to get columns named view__feature",
            field="features",
        )


def _definitions(
    catalog: Catalog, views: Mapping[str, Any], on_demand: Mapping[str, OnDemandView]
) -> dict[str, dict[str, Any]]:
    """The exact definition versions a selection used (recorded with training sets)."""
    found = {}
    for kind, names in (("feature_view", views), ("on_demand_view", on_demand)):
        for name in names:
            found[name] = {"kind": kind, **catalog.revisions.get((kind, name), {})}
    return found
