"""What each rule kind looks at: one ``Observation`` per model version behind an endpoint.

Window kinds (``metric``, ``change``, ``error_rate``, ``latency``) read the latest window
of each version from the performance monitor, which may still be filling; ``missing_data``
and ``drift_share`` judge the last *complete* window (UTC-aligned), so a quiet minute
after the hour turns is not "no traffic"; ``concept_drift`` replays the version's error
stream over the last week. Sources are read once per evaluation pass and shared by rules.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from ailayer.monitoring.alerting.rules import AlertRule

if TYPE_CHECKING:
    from ailayer.monitoring.endpoint.drift import VersionDrift

WIDTHS = {"hour": timedelta(hours=1), "day": timedelta(days=1)}
NO_TRAFFIC = "no traffic in the window; the version had traffic in the window before"


@dataclass(frozen=True)
class Observation:
    model: str
    version: int
    value: float | None
    window_start: str
    detail: dict[str, Any] = field(default_factory=dict)


class Reports(Protocol):
    """``PerformanceMonitor.report``: windows with model, version, window_start, metrics."""

    def report(self, tenant_id: str, endpoint: str, window: str = "hour") -> dict: ...


class DriftReports(Protocol):
    """``EndpointDrift.report``: one ``VersionDrift`` per model version seen in
    [start, end)."""

    def report(
        self,
        tenant_id: str,
        endpoint: str,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> list[VersionDrift]: ...


class ConceptStatus(Protocol):
    def status(
        self, tenant_id: str, endpoint: str, detector: str = "adwin", **kwargs: Any
    ) -> list[dict]: ...


class MissingInputs(Protocol):
    def missing(
        self, tenant_id: str, endpoint: str, start: datetime, end: datetime
    ) -> dict[tuple[str, int], dict[str, Any]]: ...


class Observer:
    """Computes observations for rules; ``reset`` starts a new pass (drops the cache)."""

    def __init__(
        self,
        performance: Reports,
        *,
        drift: DriftReports | None = None,
        concept: ConceptStatus | None = None,
        inputs: MissingInputs | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.performance, self.drift, self.concept, self.inputs = (
            performance,
            drift,
            concept,
            inputs,
        )
        self.now = now
        self._cache: dict[tuple, Any] = {}

    def reset(self) -> None:
        self._cache.clear()

    def observe(self, rule: AlertRule, tenant_id: str, endpoint: str) -> list[Observation]:
        if rule.kind == "change":
            return self._change(rule, tenant_id, endpoint)
        if rule.kind == "missing_data":
            return self._missing(rule, tenant_id, endpoint)
        if rule.kind == "drift_share":
            return self._drift(rule, tenant_id, endpoint)
        if rule.kind == "concept_drift":
            return self._concept(rule, tenant_id, endpoint)
        return [
            Observation(w["model"], w["version"], rule.value(w), str(w["window_start"]))
            for w in self._latest(tenant_id, endpoint, rule.window)
        ]

    def _cached(self, key: tuple, compute: Callable[[], Any]) -> Any:
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]

    def _windows(self, tenant_id: str, endpoint: str, window: str) -> list[dict]:
        key = ("performance", tenant_id, endpoint, window)
        report = self._cached(
            key, lambda: self.performance.report(tenant_id, endpoint, window=window)
        )
        return report["windows"]

    def _latest(self, tenant_id: str, endpoint: str, window: str) -> list[dict]:
        return [
            versions[-1] for versions in _by_version(self._windows(tenant_id, endpoint, window))
        ]

    def _change(self, rule: AlertRule, tenant_id: str, endpoint: str) -> list[Observation]:
        found = []
        for versions in _by_version(self._windows(tenant_id, endpoint, rule.window)):
            latest, previous = versions[-1], _previous(versions)
            now = rule.value(latest)
            before = rule.value(previous) if previous is not None else None
            change = (now - before) / abs(before) if now is not None and before else None
            detail = {"latest": now, "previous": before}
            found.append(
                Observation(
                    latest["model"], latest["version"], change, str(latest["window_start"]), detail
                )
            )
        return found

    def _complete(self, window: str) -> tuple[datetime, datetime]:
        """The last complete UTC-aligned window before now."""
        now = self.now().astimezone(UTC)
        end = now.replace(minute=0, second=0, microsecond=0)
        if window == "day":
            end = end.replace(hour=0)
        return end - WIDTHS[window], end

    def _missing(self, rule: AlertRule, tenant_id: str, endpoint: str) -> list[Observation]:
        if self.inputs is None:
            return []
        start, end = self._complete(rule.window)
        before = start - WIDTHS[rule.window]
        key = ("missing", tenant_id, endpoint, rule.window)
        current, previous = self._cached(
            key,
            lambda: (
                self.inputs.missing(tenant_id, endpoint, start, end),  # type: ignore[union-attr]
                self.inputs.missing(tenant_id, endpoint, before, start),  # type: ignore[union-attr]
            ),
        )
        found = [
            Observation(model, version, seen["missing_share"], start.isoformat(), seen)
            for (model, version), seen in sorted(current.items())
        ]
        for model, version in sorted(previous.keys() - current.keys()):
            detail = {"rows": 0, "reason": NO_TRAFFIC}
            found.append(Observation(model, version, 1.0, start.isoformat(), detail))
        return found

    def _drift(self, rule: AlertRule, tenant_id: str, endpoint: str) -> list[Observation]:
        if self.drift is None:
            return []
        start, end = self._complete(rule.window)
        key = ("drift", tenant_id, endpoint, rule.window)
        entries = self._cached(
            key,
            lambda: self.drift.report(tenant_id, endpoint, start, end),  # type: ignore[union-attr]
        )
        found = []
        for item in entries:
            report = item.report
            detail = {
                "rows": item.rows,
                "dataset_drift": report.dataset_drift,
                "drifted": report.drifted_features,
                "reason": report.reason or item.reason,
            }
            share = report.drift_share
            value = None if share is None else float(share)
            found.append(Observation(item.model, item.version, value, start.isoformat(), detail))
        return found

    def _concept(self, rule: AlertRule, tenant_id: str, endpoint: str) -> list[Observation]:
        if self.concept is None:
            return []
        key = ("concept", tenant_id, endpoint, rule.detector, rule.window)
        entries = self._cached(
            key,
            lambda: self.concept.status(  # type: ignore[union-attr]
                tenant_id, endpoint, rule.detector, recent=WIDTHS[rule.window]
            ),
        )
        found = []
        for entry in entries:
            recent = entry.get("recent_alarms")
            value = float(recent) if recent is not None else None
            detail = {
                "labelled": entry["labelled"],
                "alarms": entry["alarms"],
                "mean_error": entry["mean_error"],
                "last_alarm": str(entry["alarm_times"][-1]) if entry["alarm_times"] else None,
            }
            found.append(
                Observation(entry["model"], entry["version"], value, str(entry["last"]), detail)
            )
        return found


def _by_version(windows: list[dict]) -> list[list[dict]]:
    """Each version's windows, oldest first."""
    grouped: dict[tuple, list[dict]] = {}
    for window in windows:
        grouped.setdefault((window["model"], window["version"]), []).append(window)
    return [sorted(ws, key=lambda w: w["window_start"]) for _, ws in sorted(grouped.items())]


def _previous(versions: list[dict]) -> dict | None:
    """The window right before the latest (adjacent when windows carry their end)."""
    if len(versions) < 2:
        return None
    latest, previous = versions[-1], versions[-2]
    if "window_end" in previous and previous["window_end"] != latest["window_start"]:
        return None
    return previous
