"""What starts a pipeline: a schedule, new data in a source, or a monitoring alert.

Triggers are small frozen values a pipeline carries, valid the moment they exist: a bad
one raises ``InvalidInput`` naming its field when it is declared, never when it fires.

    Schedule("0 * * * *")                          # cron, five fields, UTC
    NewData(source="payments", rows=10_000)        # the source grew by 10,000 rows
    OnAlert(kind="drift", endpoint="fraud")        # an ailayer.alert.fired drift alert

``key`` names a trigger within its pipeline (the scheduler keeps each trigger's mark
under it); ``to_dict`` is what a run and the audit log record of it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ailayer.core.errors import InvalidInput
from ailayer.core.names import check_name
from ailayer.monitoring.alerting.rules import KINDS as RULE_KINDS
from ailayer.pipelines.cron import Cron

ALERT_GROUPS = {
    "drift": ("drift_share", "concept_drift"),
    "performance": ("metric", "change", "error_rate", "latency"),
}
ALERT_KINDS = (*ALERT_GROUPS, *RULE_KINDS)


@dataclass(frozen=True)
class Schedule:
    """Fires once per minute its cron expression names (UTC)."""

    cron: str
    parsed: Cron = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "parsed", Cron.parse(self.cron))

    @property
    def key(self) -> str:
        return f"schedule:{self.cron}"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "schedule", "cron": self.cron}


@dataclass(frozen=True)
class NewData:
    """Fires when ``source`` (a Parquet file or folder of the tenant's offline store, as a
    ``ParquetSource`` names it) has grown by ``rows`` rows or ``bytes`` bytes (whichever
    comes first) since the trigger last fired."""

    source: str
    rows: int | None = None
    bytes: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.source, str) or not self.source.strip():
            raise InvalidInput("a new-data trigger needs a source path", field="source")
        if self.rows is None and self.bytes is None:
            raise InvalidInput("a new-data trigger needs rows or bytes (or both)", field="rows")
        for name in ("rows", "bytes"):
            value = getattr(self, name)
            if value is not None and (type(value) is not int or value < 1):
                raise InvalidInput(f"{name} must be a whole number of 1 or more", field=name)

    @property
    def key(self) -> str:
        return f"new_data:{self.source}:rows={self.rows}:bytes={self.bytes}"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "new_data", "source": self.source, "rows": self.rows, "bytes": self.bytes}

    def grown(self, before: dict[str, int], now: dict[str, int]) -> bool:
        """Whether the growth from ``before`` to ``now`` (``{"rows", "bytes"}``) reaches
        a threshold; a source that shrank (rewritten) counts from its new size."""
        return any(
            limit is not None and now[name] - before[name] >= limit
            for name, limit in (("rows", self.rows), ("bytes", self.bytes))
        )


@dataclass(frozen=True)
class OnAlert:
    """Fires on an ``ailayer.alert.fired`` event of ``kind``: ``drift`` (drift share,
    concept drift), ``performance`` (metric, change, error rate, latency) or one alert
    rule kind; for ``endpoint`` and ``model`` when given, else for any."""

    kind: str
    endpoint: str | None = None
    model: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in ALERT_KINDS:
            raise InvalidInput(
                f"alert kind must be one of {', '.join(ALERT_KINDS)}; got {self.kind!r}",
                field="kind",
            )
        for name in ("endpoint", "model"):
            if getattr(self, name) is not None:
                check_name(name, getattr(self, name))

    @property
    def key(self) -> str:
        return f"alert:{self.kind}:{self.endpoint or '*'}:{self.model or '*'}"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "alert", "alert_kind": self.kind, "endpoint": self.endpoint,
                "model": self.model}  # fmt: skip

    def matches(self, alert: dict[str, Any]) -> bool:
        """Whether a fired alert's body (``Alert.to_dict()``) is one this trigger wants."""
        kinds = ALERT_GROUPS.get(self.kind, (self.kind,))
        return (
            alert.get("status") == "firing"
            and alert.get("kind") in kinds
            and self.endpoint in (None, alert.get("endpoint"))
            and self.model in (None, alert.get("model"))
        )


Trigger = Schedule | NewData | OnAlert


@dataclass(frozen=True)
class Declared:
    """One tenant's pipeline and the triggers it carries: what the scheduler is given."""

    tenant_id: str
    pipeline: str
    triggers: tuple[Trigger, ...]

    def __post_init__(self) -> None:
        check_name("pipeline", self.pipeline)
        object.__setattr__(self, "triggers", check_triggers(self.triggers))


def check_triggers(triggers: Iterable[Any]) -> tuple[Trigger, ...]:
    """``triggers`` as a tuple, each a trigger and none declared twice."""
    checked: tuple[Trigger, ...] = tuple(triggers)
    seen: set[str] = set()
    for index, trigger in enumerate(checked):
        if not isinstance(trigger, Schedule | NewData | OnAlert):
            raise InvalidInput(
                f"a trigger is a Schedule, NewData or OnAlert; got {trigger!r}",
                field=f"triggers[{index}]",
            )
        if trigger.key in seen:
            raise InvalidInput(
                f"trigger {trigger.key} is declared twice", field=f"triggers[{index}]"
            )
        seen.add(trigger.key)
    return checked
