"""Stream feature views: windowed aggregations of events per entity, defined in code.

A stream view is an ordinary ``FeatureView`` whose source is a ``StreamSource``: the
registry, the online store, ``FeatureServer`` and ``OfflineStore.get_training_set`` treat
it like any view, so nothing downstream needs to know it is fed by a stream. The source
names the topic and event type to aggregate, and where its values land offline
(``streams/<view>@<version>/values`` under the tenant's offline folder): the stream
processor writes there every row it writes online, so a point-in-time training set reads
exactly what serving read at the same time.

``StreamFeatureView(...)`` builds such a view (it returns a ``FeatureView``, so it
round-trips through ``to_spec``/``from_spec`` and the registry unchanged).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from ailayer.core.errors import InvalidInput
from ailayer.core.names import check_name
from ailayer.features.definitions import Entity, Feature, FeatureView, ParquetSource

FUNCTIONS = ("count", "sum", "mean", "min", "max", "distinct_count")
KINDS = ("sliding", "tumbling")
VALUES_TIMESTAMP = "feature_ts"
DEFAULT_BUCKETS = 60  # a sliding window is kept as this many buckets unless ``step`` says
_DTYPES = {"count": "int64", "distinct_count": "int64"}
_DEFAULTS: dict[str, Any] = {"count": 0, "distinct_count": 0, "sum": 0.0}


def _positive(value: Any, field: str) -> timedelta:
    if not isinstance(value, timedelta) or value <= timedelta(0):
        raise InvalidInput(f"{field} must be a positive timedelta; got {value!r}", field=field)
    if value % timedelta(microseconds=1):
        raise InvalidInput(f"{field} must be whole microseconds", field=field)
    return value


@dataclass(frozen=True)
class Aggregation:
    """One windowed value per entity, e.g. ``Aggregation("payments_10m", None, "count",
    timedelta(minutes=10))``.

    ``column`` is the event data field aggregated (``None`` for ``count`` counts events).
    A sliding window is kept as buckets of ``step`` (default ``window / 60``): at time T it
    covers the events from the start of the bucket ``window - step`` before T's bucket up
    to T — between ``window - step`` and ``window`` long. A tumbling window is one bucket
    of ``window`` that restarts at each multiple of ``window`` since the epoch.
    """

    name: str
    column: str | None
    function: str
    window: timedelta
    kind: str = "sliding"
    step: timedelta | None = None
    default: Any = None

    def __post_init__(self) -> None:
        check_name("aggregations.name", self.name)
        where = f"aggregations.{self.name}"
        if self.function not in FUNCTIONS:
            raise InvalidInput(
                f"{where}.function must be one of {', '.join(FUNCTIONS)}; got {self.function!r}",
                field=f"{where}.function",
            )
        if self.column is None and self.function != "count":
            raise InvalidInput(f"{where}.column is required for {self.function}", field=where)
        if self.column is not None:
            check_name(f"{where}.column", self.column)
        if self.kind not in KINDS:
            raise InvalidInput(f"{where}.kind must be sliding or tumbling", field=f"{where}.kind")
        window = _positive(self.window, f"{where}.window")
        step = self._step(window, where)
        if window % step:
            raise InvalidInput(f"{where}.step must divide the window", field=f"{where}.step")
        object.__setattr__(self, "step", step)

    def _step(self, window: timedelta, where: str) -> timedelta:
        if self.kind == "tumbling":
            if self.step not in (None, window):
                raise InvalidInput(f"{where}: a tumbling window has no step", field=where)
            return window
        if self.step is not None:
            return _positive(self.step, f"{where}.step")
        micros = window // timedelta(microseconds=1)
        return timedelta(
            microseconds=micros // DEFAULT_BUCKETS if micros % DEFAULT_BUCKETS == 0 else micros
        )

    @property
    def dtype(self) -> str:
        return _DTYPES.get(self.function, "float64")

    def feature(self) -> Feature:
        default = _DEFAULTS.get(self.function) if self.default is None else self.default
        return Feature(self.name, self.dtype, default=default)

    def to_spec(self) -> dict[str, Any]:
        assert self.step is not None
        return {
            "name": self.name,
            "column": self.column,
            "function": self.function,
            "window_seconds": self.window.total_seconds(),
            "kind": self.kind,
            "step_seconds": self.step.total_seconds(),
            "default": self.default,
        }

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> Aggregation:
        return cls(
            spec["name"],
            spec.get("column"),
            spec["function"],
            timedelta(seconds=spec["window_seconds"]),
            spec.get("kind", "sliding"),
            timedelta(seconds=spec["step_seconds"]) if spec.get("step_seconds") else None,
            spec.get("default"),
        )


@dataclass(frozen=True)
class StreamSource(ParquetSource):
    """Events of ``event_type`` on ``topic``; the Parquet ``path`` holds the values written."""

    timestamp_field: str = VALUES_TIMESTAMP
    topic: str = ""
    event_type: str = ""
    event_time_field: str | None = None
    aggregations: tuple[Aggregation, ...] = ()
    allowed_lateness_seconds: float = 0.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.topic, str) or not self.topic:
            raise InvalidInput("source_topic must be a topic name", field="source_topic")
        if not isinstance(self.event_type, str) or not self.event_type:
            raise InvalidInput("event_type must be a non-empty string", field="event_type")
        if self.event_time_field is not None:
            check_name("timestamp_field", self.event_time_field)
        aggregations = tuple(self.aggregations)
        if not aggregations or not all(isinstance(a, Aggregation) for a in aggregations):
            raise InvalidInput(
                "aggregations must be a non-empty list of Aggregation", field="aggregations"
            )
        object.__setattr__(self, "aggregations", aggregations)
        if not isinstance(self.allowed_lateness_seconds, int | float) or (
            self.allowed_lateness_seconds < 0
        ):
            raise InvalidInput("allowed_lateness must be zero or more", field="allowed_lateness")

    @property
    def allowed_lateness(self) -> timedelta:
        return timedelta(seconds=self.allowed_lateness_seconds)

    def to_spec(self) -> dict[str, Any]:
        return {
            **super().to_spec(),
            "type": "stream",
            "topic": self.topic,
            "event_type": self.event_type,
            "event_time_field": self.event_time_field,
            "aggregations": [a.to_spec() for a in self.aggregations],
            "allowed_lateness_seconds": float(self.allowed_lateness_seconds),
        }

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> StreamSource:
        fields = {k: v for k, v in spec.items() if k not in ("type", "aggregations")}
        aggregations = tuple(Aggregation.from_spec(a) for a in spec["aggregations"])
        return cls(**fields, aggregations=aggregations)


def values_path(name: str, version: int) -> str:
    """Where a stream view's values live, relative to the tenant's offline folder."""
    return f"streams/{name}@{version}/values"


def events_path(name: str, version: int) -> str:
    """Where a stream view's raw events live, relative to the tenant's offline folder."""
    return f"streams/{name}@{version}/events"


def StreamFeatureView(
    name: str,
    entities: Iterable[Entity],
    source_topic: str,
    event_type: str,
    aggregations: Iterable[Aggregation],
    *,
    timestamp_field: str | None = None,
    allowed_lateness: timedelta = timedelta(0),
    ttl: timedelta | None = None,
    version: int = 1,
    owner: str = "",
    description: str = "",
    tags: Mapping[str, str] | None = None,
) -> FeatureView:
    """A feature view fed by events: one feature per aggregation, keyed by the entities'
    join keys (read from each event's data). ``timestamp_field`` names a data field holding
    the event time (RFC 3339 or epoch seconds); by default the CloudEvents ``time``.
    Events older than the newest seen minus ``allowed_lateness`` are counted and dropped."""
    if not isinstance(allowed_lateness, timedelta) or allowed_lateness < timedelta(0):
        raise InvalidInput("allowed_lateness must be a timedelta ≥ 0", field="allowed_lateness")
    aggregations = tuple(aggregations) if isinstance(aggregations, Iterable) else ()
    check_name("feature_view.name", name)
    source = StreamSource(
        path=values_path(name, version),
        topic=source_topic,
        event_type=event_type,
        event_time_field=timestamp_field,
        aggregations=aggregations,
        allowed_lateness_seconds=allowed_lateness.total_seconds(),
    )
    return FeatureView(
        name,
        entities,
        [a.feature() for a in source.aggregations],
        source,
        ttl=ttl,
        owner=owner,
        description=description,
        tags=tags or {},
        version=version,
    )


def is_stream_view(view: Any) -> bool:
    return isinstance(view, FeatureView) and isinstance(view.source, StreamSource)


def stream_source(view: FeatureView) -> StreamSource:
    """The view's ``StreamSource``, or an InvalidInput naming the view."""
    if not isinstance(view.source, StreamSource):
        raise InvalidInput(f"feature view {view.name!r} is not a stream feature view", field="view")
    return view.source
