"""Feature definitions, written in Python by users: entities, views, on-demand views, services.

Every object checks itself when it is built, so a mistake is reported at the line of the
user's definitions file that made it, with ``field`` naming what is wrong. Each object
turns into a JSON spec (``to_spec``) that the registry versions, and back (``from_spec``);
an on-demand view rebuilt from a spec has no function, only the hash of its code.
"""

from __future__ import annotations

import hashlib
import inspect
import marshal
import textwrap
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from ailayer.core.errors import InvalidInput
from ailayer.core.names import check_name
from ailayer.features.types import KEY_DTYPES, check_value, normalize_dtype


def _set(obj: object, name: str, value: Any) -> None:
    object.__setattr__(obj, name, value)


def _tags(value: Any, field_name: str) -> dict[str, str]:
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise InvalidInput(f"{field_name} must map strings to strings", field=field_name)
    return dict(value)


def _text(value: Any, field_name: str) -> str:
    if not isinstance(value, str):
        raise InvalidInput(f"{field_name} must be a string; got {value!r}", field=field_name)
    return value


def parse_ref(ref: Any, field_name: str = "features") -> tuple[str, str]:
    """``"view:feature"`` → ``("view", "feature")``."""
    if not isinstance(ref, str) or ref.count(":") != 1:
        raise InvalidInput(
            f"{field_name} entries must look like 'view:feature'; got {ref!r}", field=field_name
        )
    view, feature = ref.split(":")
    check_name(field_name, view)
    check_name(field_name, feature)
    return view, feature


@dataclass(frozen=True)
class Entity:
    """What features describe (a customer, a merchant), and the typed keys that identify it."""

    name: str
    join_keys: Mapping[str, type | str]
    description: str = ""
    tags: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_name("entity.name", self.name)
        if not isinstance(self.join_keys, Mapping) or not self.join_keys:
            raise InvalidInput(
                f"entity {self.name!r}: join_keys must be a non-empty mapping of key → type",
                field="join_keys",
            )
        keys = {}
        for key, dtype in self.join_keys.items():
            check_name("join_keys", key)
            keys[key] = normalize_dtype(dtype, f"join_keys.{key}", KEY_DTYPES)
        _set(self, "join_keys", keys)
        _text(self.description, "description")
        _set(self, "tags", _tags(self.tags, "tags"))

    def to_spec(self) -> dict[str, Any]:
        return {
            "kind": "entity",
            "name": self.name,
            "join_keys": dict(self.join_keys),
            "description": self.description,
            "tags": dict(self.tags),
        }

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> Entity:
        return cls(
            spec["name"], spec["join_keys"], spec.get("description", ""), spec.get("tags", {})
        )


@dataclass(frozen=True)
class Feature:
    """One named, typed value. ``default`` is served when the online store has no value."""

    name: str
    dtype: type | str
    default: Any = None
    tags: Mapping[str, str] = field(default_factory=dict)
    description: str = ""

    def __post_init__(self) -> None:
        check_name("feature.name", self.name)
        _set(self, "dtype", normalize_dtype(self.dtype, f"features.{self.name}.dtype"))
        _set(
            self, "default", check_value(self.dtype, self.default, f"features.{self.name}.default")
        )  # type: ignore[arg-type]
        _set(self, "tags", _tags(self.tags, f"features.{self.name}.tags"))
        _text(self.description, f"features.{self.name}.description")

    def to_spec(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "dtype": self.dtype,
            "default": self.default,
            "tags": dict(self.tags),
            "description": self.description,
        }


@dataclass(frozen=True)
class ParquetSource:
    """Parquet file or directory. Relative paths live under the tenant's offline store."""

    path: str
    timestamp_field: str = "event_timestamp"
    created_timestamp_field: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.path, str) or not self.path.strip():
            raise InvalidInput("source.path must be a non-empty path", field="source.path")
        _check_timestamps(self)

    def to_spec(self) -> dict[str, Any]:
        return {"type": "parquet", "path": self.path, **_timestamp_spec(self)}


@dataclass(frozen=True)
class PostgresSource:
    """A PostgreSQL table. ``url`` is ``env:NAME`` (read when used) or a URL with no password."""

    url: str
    table: str
    timestamp_field: str = "event_timestamp"
    created_timestamp_field: str | None = None

    def __post_init__(self) -> None:
        _text(self.url, "source.url")
        if not self.url.startswith("env:"):
            parts = urlsplit(self.url)
            if parts.scheme not in ("postgresql", "postgres"):
                raise InvalidInput(
                    f"source.url must be postgresql://… or env:NAME; got {self.url!r}",
                    field="source.url",
                )
            if parts.password:
                raise InvalidInput(
                    "source.url must not contain a password (specs are stored); use "
                    "url='env:NAME' with the URL in that environment variable",
                    field="source.url",
                )
        if not isinstance(self.table, str) or not all(
            part.isidentifier() for part in self.table.split(".")
        ):
            raise InvalidInput(
                f"source.table must be 'table' or 'schema.table'; got {self.table!r}",
                field="source.table",
            )
        _check_timestamps(self)

    def to_spec(self) -> dict[str, Any]:
        return {"type": "postgres", "url": self.url, "table": self.table, **_timestamp_spec(self)}


@dataclass(frozen=True)
class DvcSource:
    """A Parquet or CSV file tracked by DVC in a git repository, read at one revision.

    ``rev`` (a commit, tag or branch) is required: the same definition reads the same
    bytes later, which is what a reproducible training set needs. ``repo`` is a local path
    or a git URL; reading it is reading outside the offline store, so it needs
    ``allow_external_paths`` (``features/dvc_source.py`` reads it).
    """

    repo: str
    path: str
    rev: str
    timestamp_field: str = "event_timestamp"
    created_timestamp_field: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.repo, str) or not self.repo.strip():
            raise InvalidInput("source.repo must be a repository path or URL", field="source.repo")
        _dvc_path(self.path)
        if (
            not isinstance(self.rev, str)
            or not self.rev
            or self.rev.startswith("-")
            or any(c.isspace() or not c.isprintable() for c in self.rev)
        ):
            raise InvalidInput(
                f"source.rev must be a git revision (commit, tag or branch); got {self.rev!r}",
                field="source.rev",
            )
        _check_timestamps(self)

    def to_spec(self) -> dict[str, Any]:
        where = {"repo": self.repo, "path": self.path, "rev": self.rev}
        return {"type": "dvc", **where, **_timestamp_spec(self)}


def _dvc_path(path: Any) -> None:
    parts = path.replace("\\", "/").split("/") if isinstance(path, str) else [""]
    if ".." in parts or "" in parts:
        raise InvalidInput(
            f"source.path must be a relative path inside the repository; got {path!r}",
            field="source.path",
        )
    if not path.endswith((".parquet", ".csv")):
        raise InvalidInput(
            f"source.path must name a .parquet or .csv file; got {path!r}", field="source.path"
        )


Source = ParquetSource | PostgresSource | DvcSource


def _check_timestamps(source: Any) -> None:
    check_name("source.timestamp_field", source.timestamp_field)
    if source.created_timestamp_field is not None:
        check_name("source.created_timestamp_field", source.created_timestamp_field)


def _timestamp_spec(source: Any) -> dict[str, Any]:
    return {
        "timestamp_field": source.timestamp_field,
        "created_timestamp_field": source.created_timestamp_field,
    }


def source_from_spec(spec: Mapping[str, Any]) -> Source:
    if spec["type"] == "stream":  # a stream view's source (ailayer.features.streaming)
        from ailayer.features.streaming.spec import StreamSource

        return StreamSource.from_spec(spec)
    args = {k: v for k, v in spec.items() if k != "type"}
    kinds = {"parquet": ParquetSource, "postgres": PostgresSource, "dvc": DvcSource}
    return kinds[spec["type"]](**args)


def _features(values: Any, owner: str) -> tuple[Feature, ...]:
    if not isinstance(values, Iterable) or isinstance(values, str | bytes):
        raise InvalidInput(f"{owner}: features must be a list of Feature", field="features")
    features = tuple(values)
    if not features or not all(isinstance(f, Feature) for f in features):
        raise InvalidInput(
            f"{owner}: features must be a non-empty list of Feature", field="features"
        )
    names = [f.name for f in features]
    for name in names:
        if names.count(name) > 1:
            raise InvalidInput(f"{owner}: feature {name!r} is declared twice", field="features")
    return features


@dataclass(frozen=True)
class FeatureView:
    """Features of some entities, read from one source, valid for ``ttl`` after their time.

    A change of a feature's dtype or of the entities' keys needs a new version:
    ``FeatureView(..., version=2)``. Each version has its own online values and watermark.
    """

    name: str
    entities: Iterable[Entity]
    features: Iterable[Feature]
    source: Source
    ttl: timedelta | None = None
    owner: str = ""
    description: str = ""
    tags: Mapping[str, str] = field(default_factory=dict)
    version: int = 1

    def __post_init__(self) -> None:
        check_name("feature_view.name", self.name)
        owner = f"feature view {self.name!r}"
        entities = tuple(self.entities) if isinstance(self.entities, Iterable) else ()
        if not entities or not all(isinstance(e, Entity) for e in entities):
            raise InvalidInput(
                f"{owner}: entities must be a non-empty list of Entity", field="entities"
            )
        _set(self, "entities", entities)
        _set(self, "features", _features(self.features, owner))
        if not isinstance(self.source, ParquetSource | PostgresSource | DvcSource):
            raise InvalidInput(
                f"{owner}: source must be a ParquetSource, PostgresSource or DvcSource",
                field="source",
            )
        if self.ttl is not None and (
            not isinstance(self.ttl, timedelta) or self.ttl <= timedelta(0)
        ):
            raise InvalidInput(f"{owner}: ttl must be a positive timedelta or None", field="ttl")
        _check_version(self.version, owner)
        for name in ("owner", "description"):
            _text(getattr(self, name), name)
        _set(self, "tags", _tags(self.tags, "tags"))
        self._check_columns(owner)

    def _check_columns(self, owner: str) -> None:
        keys: list[str] = [k for e in self.entities for k in e.join_keys]
        stamps = {self.source.timestamp_field, self.source.created_timestamp_field}
        names = keys + [f.name for f in self.features]
        for name in names:
            if names.count(name) > 1 or name in stamps:
                raise InvalidInput(
                    f"{owner}: column {name!r} is used twice (join keys, features and "
                    "timestamp fields must all differ)",
                    field="features",
                )

    @property
    def join_keys(self) -> dict[str, str]:
        return {k: t for e in self.entities for k, t in e.join_keys.items()}

    @property
    def ttl_seconds(self) -> float | None:
        return None if self.ttl is None else self.ttl.total_seconds()

    def feature(self, name: str) -> Feature | None:
        return next((f for f in self.features if f.name == name), None)

    def to_spec(self) -> dict[str, Any]:
        return {
            "kind": "feature_view",
            "name": self.name,
            "version": self.version,
            "entities": [e.to_spec() for e in self.entities],
            "features": [f.to_spec() for f in self.features],
            "source": self.source.to_spec(),
            "ttl_seconds": self.ttl_seconds,
            "owner": self.owner,
            "description": self.description,
            "tags": dict(self.tags),
        }

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> FeatureView:
        ttl = spec.get("ttl_seconds")
        return cls(
            name=spec["name"],
            entities=[Entity.from_spec(e) for e in spec["entities"]],
            features=[Feature(**f) for f in spec["features"]],
            source=source_from_spec(spec["source"]),
            ttl=None if ttl is None else timedelta(seconds=ttl),
            owner=spec.get("owner", ""),
            description=spec.get("description", ""),
            tags=spec.get("tags", {}),
            version=spec.get("version", 1),
        )


def _check_version(version: Any, owner: str) -> None:
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise InvalidInput(
            f"{owner}: version must be an integer ≥ 1; got {version!r}", field="version"
        )


def code_hash(function: Callable[..., Any]) -> tuple[str, str]:
    """(sha256, source text) of a transform, so training and serving can prove they ran the same code."""
    try:
        source = textwrap.dedent(inspect.getsource(function))
        digest = hashlib.sha256(source.encode()).hexdigest()
    except (OSError, TypeError):
        source = ""
        digest = hashlib.sha256(marshal.dumps(function.__code__)).hexdigest()
    return digest, source


@dataclass(frozen=True)
class OnDemandView:
    """Features computed at request time by a pure function of request data and other features.

    The function takes one row (a dict of the request fields and the input features, by
    name) and returns a dict of the output features. The same function runs on every row
    of a training set and on every served row, so the two cannot drift apart.
    """

    name: str
    features: Iterable[Feature]
    inputs: Iterable[str] = ()
    request: Mapping[str, type | str] = field(default_factory=dict)
    function: Callable[[dict[str, Any]], Mapping[str, Any]] | None = None
    version: int = 1
    description: str = ""
    owner: str = ""
    tags: Mapping[str, str] = field(default_factory=dict)
    code_sha256: str = ""
    source_code: str = ""

    def __post_init__(self) -> None:
        check_name("on_demand.name", self.name)
        owner = f"on-demand view {self.name!r}"
        _set(self, "features", _features(self.features, owner))
        if isinstance(self.inputs, str) or not isinstance(self.inputs, Iterable):
            raise InvalidInput(f"{owner}: inputs must be a list of 'view:feature'", field="inputs")
        _set(self, "inputs", tuple(self.inputs))
        if not isinstance(self.request, Mapping):
            raise InvalidInput(f"{owner}: request must map field → type", field="request")
        _set(
            self,
            "request",
            {k: normalize_dtype(t, f"request.{k}") for k, t in self.request.items()},
        )
        self._check_names(owner)
        _check_version(self.version, owner)
        _set(self, "tags", _tags(self.tags, "tags"))
        if self.function is not None:
            if not callable(self.function):
                raise InvalidInput(f"{owner}: function must be callable", field="function")
            digest, source = code_hash(self.function)
            _set(self, "code_sha256", digest)
            _set(self, "source_code", source)

    def _check_names(self, owner: str) -> None:
        names = [parse_ref(r, "inputs")[1] for r in self.inputs] + list(self.request)
        for name in names:
            check_name("request", name)
            if names.count(name) > 1:
                raise InvalidInput(
                    f"{owner}: input name {name!r} is used twice (inputs and request fields "
                    "reach the function by name)",
                    field="inputs",
                )

    def to_spec(self) -> dict[str, Any]:
        return {
            "kind": "on_demand_view",
            "name": self.name,
            "version": self.version,
            "inputs": list(self.inputs),
            "request": dict(self.request),
            "features": [f.to_spec() for f in self.features],
            "code_sha256": self.code_sha256,
            "source_code": self.source_code,
            "description": self.description,
            "owner": self.owner,
            "tags": dict(self.tags),
        }

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> OnDemandView:
        fields = {k: v for k, v in spec.items() if k != "kind"}
        fields["features"] = [Feature(**f) for f in spec["features"]]
        return cls(**fields)


def on_demand(
    *,
    features: Iterable[Feature],
    inputs: Iterable[str] = (),
    request: Mapping[str, type | str] | None = None,
    name: str | None = None,
    version: int = 1,
    description: str = "",
    owner: str = "",
    tags: Mapping[str, str] | None = None,
) -> Callable[[Callable[[dict[str, Any]], Mapping[str, Any]]], OnDemandView]:
    """Decorate ``def f(row) -> dict`` to make an on-demand view named after it."""

    def wrap(function: Callable[[dict[str, Any]], Mapping[str, Any]]) -> OnDemandView:
        return OnDemandView(
            name=name or function.__name__,
            features=features,
            inputs=inputs,
            request=request or {},
            function=function,
            version=version,
            description=description or (inspect.getdoc(function) or ""),
            owner=owner,
            tags=tags or {},
        )

    return wrap


@dataclass(frozen=True)
class FeatureService:
    """A named set of features a model uses; items are refs, views or on-demand views."""

    name: str
    features: Iterable[str | FeatureView | OnDemandView]
    description: str = ""
    owner: str = ""
    tags: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_name("feature_service.name", self.name)
        if isinstance(self.features, str) or not isinstance(self.features, Iterable):
            raise InvalidInput("feature service features must be a list", field="features")
        refs: list[str] = []
        for item in self.features:
            if isinstance(item, FeatureView | OnDemandView):
                refs += [f"{item.name}:{f.name}" for f in item.features]  # type: ignore[union-attr]
            else:
                parse_ref(item, "features")
                refs.append(item)
        if not refs:
            raise InvalidInput(f"feature service {self.name!r} has no features", field="features")
        _set(self, "features", tuple(dict.fromkeys(refs)))
        _set(self, "tags", _tags(self.tags, "tags"))

    def to_spec(self) -> dict[str, Any]:
        return {
            "kind": "feature_service",
            "name": self.name,
            "features": list(self.features),  # type: ignore[arg-type]
            "description": self.description,
            "owner": self.owner,
            "tags": dict(self.tags),
        }

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> FeatureService:
        return cls(
            spec["name"],
            spec["features"],
            spec.get("description", ""),
            spec.get("owner", ""),
            spec.get("tags", {}),
        )


Definition = Entity | FeatureView | OnDemandView | FeatureService
KINDS: dict[str, Any] = {
    "entity": Entity,
    "feature_view": FeatureView,
    "on_demand_view": OnDemandView,
    "feature_service": FeatureService,
}


def from_spec(spec: Mapping[str, Any]) -> Definition:
    """The definition a JSON spec describes; a malformed spec is an ``InvalidInput``
    naming what is missing or wrong, never a ``KeyError`` or ``TypeError``."""
    if not isinstance(spec, Mapping):
        raise InvalidInput("a definition must be a JSON object", field="definitions")
    kind = spec.get("kind")
    if not isinstance(kind, str) or kind not in KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(KINDS)}; got {kind!r}", field="kind")
    try:
        return KINDS[kind].from_spec(spec)
    except KeyError as exc:
        raise InvalidInput(f"a {kind} needs {exc.args[0]!r}", field=str(exc.args[0])) from None
    except (TypeError, ValueError, AttributeError) as exc:
        raise InvalidInput(f"malformed {kind}: {exc}", field="definitions") from None


def kind_of(obj: Any) -> str:
    """The registry kind of a definition object (``entity``, ``feature_view``, …)."""
    for kind, cls in KINDS.items():
        if isinstance(obj, cls):
            return kind
    raise InvalidInput(f"not a feature definition: {obj!r}", field="definitions")
