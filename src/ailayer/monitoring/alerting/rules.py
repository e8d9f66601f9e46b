"""Alert rules: what to watch, on which window, and when it counts as a breach.

A rule is a small frozen value, valid the moment it exists: construction checks every
field and raises ``InvalidInput`` naming it. Kinds and what their value is:

- ``metric``: any number in a ``PerformanceMonitor`` window, by dotted path
  (``error_rate``, ``latency_ms.p95``, ``metrics.roc_auc``, ``mean_confidence``);
- ``change``: the relative change of such a number against the version's previous
  window, ``(latest - previous) / |previous|`` (``-0.2`` is a 20% drop);
- ``error_rate``: failed requests / requests of the latest window;
- ``latency``: ``p50``, ``p95`` or ``p99`` of the latest window, in milliseconds;
- ``missing_data``: share of missing input values in the last complete window, or 1.0
  when a version that had traffic in the window before got none;
- ``drift_share``: the dataset drift share (drifted / judged features) of the last
  complete window against the version's reference;
- ``concept_drift``: alarms of a streaming detector (``adwin``, ``ddm``,
  ``page_hinkley``) on the version's error stream within the newest ``window`` of
  labelled predictions.

A rule breaches when ``value <op> threshold``; it fires after ``for_`` breaching
evaluations in a row. ``endpoint`` None means every endpoint of the tenant.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from ailayer.core.errors import InvalidInput
from ailayer.core.names import check_name

OPS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}
KINDS = (
    "metric",
    "change",
    "error_rate",
    "latency",
    "missing_data",
    "drift_share",
    "concept_drift",
)
WINDOWS = ("hour", "day")
DETECTORS = ("adwin", "ddm", "page_hinkley")
PERCENTILES = ("p50", "p95", "p99")
_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*")
_URL = re.compile(r"https?://[^\s/]+(/\S*)?")


@dataclass(frozen=True)
class AlertRule:
    """One rule; see the module docstring for kinds. ``webhook_secret`` is write-only:
    ``to_dict`` never includes it."""

    name: str
    metric: str = ""
    window: str = "hour"
    op: str = ">"
    threshold: float = 0.0
    for_: int = 1
    kind: str = "metric"
    endpoint: str | None = None
    detector: str = "adwin"
    webhook_url: str | None = None
    webhook_secret: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        check_name("name", self.name)
        _check_choice("kind", self.kind, KINDS)
        _check_choice("window", self.window, WINDOWS)
        _check_choice("op", self.op, tuple(OPS))
        if isinstance(self.threshold, bool) or not isinstance(self.threshold, int | float):
            raise InvalidInput("threshold must be a number", field="threshold")
        if not math.isfinite(self.threshold):
            raise InvalidInput("threshold must be a finite number", field="threshold")
        if isinstance(self.for_, bool) or not isinstance(self.for_, int) or self.for_ < 1:
            raise InvalidInput("for_ must be an integer of at least 1", field="for_")
        if self.endpoint is not None:
            check_name("endpoint", self.endpoint)
        self._check_metric()
        _check_choice("detector", self.detector, DETECTORS)
        self._check_webhook()

    def _check_metric(self) -> None:
        if self.kind in ("metric", "change"):
            if not isinstance(self.metric, str) or not _PATH.fullmatch(self.metric):
                raise InvalidInput(
                    f"metric must be a dotted path into a window such as latency_ms.p95 "
                    f"for a {self.kind} rule; got {self.metric!r}",
                    field="metric",
                )
        elif self.kind == "latency" and self.metric:
            _check_choice("metric", self.metric.removeprefix("latency_ms."), PERCENTILES)
        elif self.kind != "latency" and self.metric:
            raise InvalidInput(f"a {self.kind} rule takes no metric", field="metric")

    def _check_webhook(self) -> None:
        if self.webhook_url is None:
            if self.webhook_secret is not None:
                raise InvalidInput("webhook_secret needs a webhook_url", field="webhook_secret")
            return
        if not isinstance(self.webhook_url, str) or not _URL.fullmatch(self.webhook_url):
            raise InvalidInput(
                "webhook_url must be an http:// or https:// URL", field="webhook_url"
            )
        if not isinstance(self.webhook_secret, str) or len(self.webhook_secret) < 8:
            raise InvalidInput(
                "webhook_secret must be at least 8 characters (it signs each payload)",
                field="webhook_secret",
            )

    @property
    def path(self) -> str:
        """The dotted window path a window-based kind reads."""
        if self.kind == "error_rate":
            return "error_rate"
        if self.kind == "latency":
            return "latency_ms." + (self.metric.removeprefix("latency_ms.") or "p95")
        return self.metric

    @property
    def watched(self) -> str:
        """What the alert says it watched: the metric path or the kind."""
        if self.kind == "concept_drift":
            return f"concept_drift.{self.detector}"
        return (
            self.path if self.kind in ("metric", "change", "error_rate", "latency") else self.kind
        )

    def breached(self, value: float) -> bool:
        return OPS[self.op](value, self.threshold)

    def value(self, window: Mapping) -> float | None:
        """The number at ``path`` in a window, or None when the window has none."""
        found: Any = window
        for part in self.path.split("."):
            found = found.get(part) if isinstance(found, Mapping) else None
        if isinstance(found, bool) or not isinstance(found, int | float):
            return None
        return float(found) if math.isfinite(found) else None

    def to_dict(self) -> dict[str, Any]:
        """The definition as JSON, without the secret (``has_webhook_secret`` instead)."""
        body = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "webhook_secret"}
        body["has_webhook_secret"] = self.webhook_secret is not None
        return body


def rule_from_dict(body: Any) -> AlertRule:
    """A rule from JSON (API, CLI, stored specs); unknown or mistyped fields are named."""
    if not isinstance(body, Mapping):
        raise InvalidInput("a rule must be a JSON object", field="rule")
    known = {f.name for f in fields(AlertRule)}
    values = dict(body)
    if "for" in values and "for_" not in values:
        values["for_"] = values.pop("for")
    values.pop("has_webhook_secret", None)
    for name in values:
        if name not in known:
            raise InvalidInput(f"unknown rule field {name!r}", field=str(name))
    if "name" not in values:
        raise InvalidInput("name is required", field="name")
    for name in ("name", "metric", "window", "op", "kind", "detector"):
        if name in values and not isinstance(values[name], str):
            raise InvalidInput(f"{name} must be a string", field=name)
    return AlertRule(**values)


def _check_choice(name: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise InvalidInput(f"{name} must be one of {', '.join(allowed)}; got {value!r}", field=name)
