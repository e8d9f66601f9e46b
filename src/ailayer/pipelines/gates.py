"""Gates: the checks a trained candidate must pass before it is registered or promoted.

A gate is declared once, beside its pipeline, and its configuration is checked then: a
negative margin, an unknown metric or a threshold outside the metric's range is an
``InvalidInput`` naming the field, so a pipeline that could never be judged is never
declared. Evaluating a gate never raises for a problem of the data or the model: a
missing column, a NaN metric or a model that fails to predict is a failed check with its
reason (gates fail closed). A check reports what was measured, the limit and how far
apart they are, so a stopped run says exactly why.

Gates: ``MetricThreshold`` (a holdout metric at least or at most a limit),
``NotWorseThanChampion`` (no more than a margin below the champion on the same holdout;
without a champion it passes, saying so, unless ``require_champion``), ``FairnessBounds``
(four-fifths rule, demographic parity and equalized-odds differences per sensitive
attribute, by ``ailayer.monitoring.fairness``), ``LatencyLimit`` (p99 of single-row
predictions), ``SizeLimit`` (artifact bytes) and ``ServedFeatures`` (every feature the
candidate needs is a field of the endpoint's feature service).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol, runtime_checkable

import pandas as pd

from ailayer.core.errors import InvalidInput
from ailayer.monitoring.fairness import fairness_report
from ailayer.pipelines.gate_config import (
    attribute_names,
    check_metric,
    count,
    finite,
    gate_name,
    in_metric_range,
    set_field,
    unit,
)
from ailayer.pipelines.gate_metrics import (
    METRICS,
    Unmeasurable,
    decisions,
    labels,
    metric_value,
    p99_latency_ms,
)

__all__ = [
    "Candidate",
    "Check",
    "FairnessBounds",
    "Gate",
    "GateReport",
    "GateResult",
    "LatencyLimit",
    "MetricThreshold",
    "NotWorseThanChampion",
    "ServedFeatures",
    "SizeLimit",
    "check_gates",
    "declare_gates",
]


@dataclass(frozen=True)
class Candidate:
    """A trained model and what the gates judge it on."""

    model: Any  # fitted estimator, predict/predict_proba as trained
    artifact: bytes  # its serialized form (size gate)
    features: list[str]  # input columns in signature order
    holdout: pd.DataFrame  # features + label + any sensitive-attribute columns
    label: str
    champion: Any | None = None  # current champion, loaded, scored on the SAME holdout
    served_fields: list[str] | None = None  # the endpoint's feature service fields, if any


@dataclass(frozen=True)
class Check:
    """One comparison: ``measured`` against ``limit`` (``>=`` or ``<=``).

    ``measured`` is None when it could not be measured; the check then failed and
    ``reason`` says why. ``by`` is how far ``measured`` is on the wrong side of ``limit``
    (0 when it passed).
    """

    name: str
    passed: bool
    measured: float | None
    limit: float | None
    comparison: str
    reason: str

    @property
    def by(self) -> float | None:
        if self.measured is None or self.limit is None:
            return None
        gap = self.limit - self.measured if self.comparison == ">=" else self.measured - self.limit
        return max(gap, 0.0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "check": self.name,
            "passed": self.passed,
            "measured": _json_float(self.measured),
            "limit": _json_float(self.limit),
            "comparison": self.comparison,
            "by": _json_float(self.by),
            "reason": self.reason,
        }


@dataclass(frozen=True)
class GateResult:
    """The checks of one gate; it passed when all of them did (and there was one)."""

    gate: str
    checks: tuple[Check, ...]

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(c.passed for c in self.checks)

    @property
    def failures(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if not c.passed)

    def to_dict(self) -> dict[str, Any]:
        return {
            "gate": self.gate,
            "passed": self.passed,
            "checks": [c.to_dict() for c in self.checks],
        }


@dataclass(frozen=True)
class GateReport:
    """Every gate's result for one candidate; ``passed`` only when every gate passed."""

    results: tuple[GateResult, ...]

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results)

    @property
    def failures(self) -> tuple[GateResult, ...]:
        return tuple(r for r in self.results if not r.passed)

    def __getitem__(self, gate: str) -> GateResult:
        for result in self.results:
            if result.gate == gate:
                return result
        raise KeyError(gate)

    def summary(self) -> str:
        """One line per failed check (``gate: reason``), or ``all N gates passed``."""
        if self.passed:
            return f"all {len(self.results)} gates passed"
        return "\n".join(f"{r.gate}: {c.reason}" for r in self.failures for c in r.failures)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: no NaN or infinity (an unmeasurable value is None with a reason)."""
        return {
            "passed": self.passed,
            "failed": [r.gate for r in self.failures],
            "gates": [r.to_dict() for r in self.results],
        }


@runtime_checkable
class Gate(Protocol):
    """Checks its configuration when declared; ``check`` never raises for bad data."""

    name: str

    def check(self, candidate: Candidate) -> GateResult: ...


def declare_gates(gates: Sequence[Gate]) -> tuple[Gate, ...]:
    """The gates of a pipeline, checked when it is declared: each one a gate, no name
    twice (the report finds a gate by its name)."""
    if isinstance(gates, str) or not isinstance(gates, Sequence):
        raise InvalidInput("gates must be a list of gates", field="gates")
    seen: set[str] = set()
    for gate in gates:
        if not isinstance(gate, Gate):
            raise InvalidInput(f"gates: {gate!r} is not a gate", field="gates")
        if gate.name in seen:
            raise InvalidInput(
                f"gates: two gates are named {gate.name!r}; give one another name=",
                field="gates",
            )
        seen.add(gate.name)
    return tuple(gates)


def check_gates(gates: Sequence[Gate], candidate: Candidate) -> GateReport:
    """Run every gate (a failure does not stop the others, so the report is complete).

    A gate that raises anyway fails closed with the error as its reason.
    """
    results = []
    for gate in declare_gates(gates):
        try:
            results.append(gate.check(candidate))
        except Exception as exc:  # fail closed: a gate that cannot judge does not pass
            reason = f"could not be evaluated: {type(exc).__name__}: {exc}"
            results.append(GateResult(gate.name, (_unmeasured(gate.name, reason),)))
    return GateReport(tuple(results))


@dataclass(frozen=True)
class MetricThreshold:
    """A holdout metric at least ``minimum`` and/or at most ``maximum``."""

    metric: str
    minimum: float | None = None
    maximum: float | None = None
    name: str = ""

    def __post_init__(self) -> None:
        check_metric(self.metric, "metric")
        if self.minimum is None and self.maximum is None:
            raise InvalidInput(
                f"metric gate {self.metric!r}: give minimum, maximum or both", field="minimum"
            )
        for bound in ("minimum", "maximum"):
            if getattr(self, bound) is not None:
                set_field(self, bound, in_metric_range(self.metric, getattr(self, bound), bound))
        if self.minimum is not None and self.maximum is not None and self.minimum > self.maximum:
            raise InvalidInput("minimum must not exceed maximum", field="minimum")
        set_field(self, "name", gate_name(self.name, f"metric:{self.metric}"))

    def check(self, candidate: Candidate) -> GateResult:
        try:
            value = metric_value(self.metric, candidate.model, candidate)
        except Unmeasurable as exc:
            return GateResult(self.name, (_unmeasured(self.metric, str(exc)),))
        checks = []
        if self.minimum is not None:
            checks.append(_compare(self.metric, value, ">=", self.minimum))
        if self.maximum is not None:
            checks.append(_compare(self.metric, value, "<=", self.maximum))
        return GateResult(self.name, tuple(checks))


@dataclass(frozen=True)
class NotWorseThanChampion:
    """The candidate's metric no more than ``margin`` worse than the champion's.

    "Worse" follows the metric: lower AUC, higher log-loss. Without a champion (a first
    model) the gate passes with the reason "no champion", unless ``require_champion``.
    """

    metric: str
    margin: float = 0.0
    require_champion: bool = False
    name: str = ""

    def __post_init__(self) -> None:
        check_metric(self.metric, "metric")
        set_field(self, "margin", finite(self.margin, "margin", minimum=0.0))
        if not isinstance(self.require_champion, bool):
            raise InvalidInput("require_champion must be true or false", field="require_champion")
        set_field(self, "name", gate_name(self.name, f"champion:{self.metric}"))

    def check(self, candidate: Candidate) -> GateResult:
        if candidate.champion is None:
            check = Check(
                f"{self.metric} vs champion",
                not self.require_champion,
                None,
                None,
                ">=",
                "no champion" + (" (one is required)" if self.require_champion else ""),
            )
            return GateResult(self.name, (check,))
        try:
            mine = metric_value(self.metric, candidate.model, candidate)
            theirs = metric_value(self.metric, candidate.champion, candidate, who="champion")
        except Unmeasurable as exc:
            return GateResult(self.name, (_unmeasured(f"{self.metric} vs champion", str(exc)),))
        higher = METRICS[self.metric].higher_is_better
        limit = theirs - self.margin if higher else theirs + self.margin
        check = _compare(f"{self.metric} vs champion", mine, ">=" if higher else "<=", limit)
        note = f" (champion {theirs:.6g}, margin {self.margin:g})"
        return GateResult(self.name, (replace(check, reason=check.reason + note),))


@dataclass(frozen=True)
class FairnessBounds:
    """Group fairness of the candidate's decisions on the holdout, per attribute.

    Decisions are ``predict`` (0/1), or ``predict_proba[:, 1] >= threshold`` when a
    threshold is given. The four-fifths rule is ``min_parity_ratio=0.8`` (the default);
    the differences are off unless given. Only equalized odds needs the labels. A missing
    attribute column, a missing value in it, or a rate that cannot be measured fails
    closed.
    """

    attributes: Sequence[str]
    min_parity_ratio: float | None = 0.8
    max_parity_difference: float | None = None
    max_equalized_odds_difference: float | None = None
    threshold: float | None = None
    name: str = "fairness"

    def __post_init__(self) -> None:
        set_field(self, "attributes", attribute_names(self.attributes))
        bounds = ("min_parity_ratio", "max_parity_difference", "max_equalized_odds_difference")
        if all(getattr(self, b) is None for b in bounds):
            raise InvalidInput(
                "give at least one fairness bound: min_parity_ratio, max_parity_difference "
                "or max_equalized_odds_difference",
                field="min_parity_ratio",
            )
        for bound in (*bounds, "threshold"):
            if getattr(self, bound) is not None:
                set_field(self, bound, unit(getattr(self, bound), bound))
        set_field(self, "name", gate_name(self.name, "fairness"))

    def check(self, candidate: Candidate) -> GateResult:
        try:
            decided = decisions(candidate.model, candidate, self.threshold)
            # selection rates need no labels; equalized odds does
            needs_labels = self.max_equalized_odds_difference is not None
            truth = labels(candidate) if needs_labels else None
        except Unmeasurable as exc:
            return GateResult(self.name, (_unmeasured("fairness", str(exc)),))
        checks: list[Check] = []
        for attribute in self.attributes:
            checks += self._attribute(candidate.holdout, attribute, decided, truth)
        return GateResult(self.name, tuple(checks))

    def _attribute(self, holdout: pd.DataFrame, attribute: str, decided: Any, truth: Any) -> list:
        if attribute not in holdout.columns:
            return [_unmeasured(f"fairness[{attribute}]", f"holdout has no column {attribute!r}")]
        column = holdout[attribute]
        if int(column.isna().sum()):
            reason = f"attribute {attribute!r} has {int(column.isna().sum())} missing values"
            return [_unmeasured(f"fairness[{attribute}]", reason)]
        try:
            report = fairness_report(decided, column.to_numpy(), y_true=truth, name=attribute)
        except InvalidInput as exc:
            return [_unmeasured(f"fairness[{attribute}]", exc.message)]
        wanted = (
            ("parity_ratio", report.demographic_parity_ratio, ">=", self.min_parity_ratio),
            ("parity_difference", report.demographic_parity_difference, "<=", self.max_parity_difference),
            ("equalized_odds_difference", report.equalized_odds_difference, "<=", self.max_equalized_odds_difference),
        )  # fmt: skip
        why = " (no rate is defined in two groups: groups without positives or negatives)"
        return [
            _compare(f"{what}[{attribute}]", value, comparison, limit, why)
            for what, value, comparison, limit in wanted
            if limit is not None
        ]


MAX_TIMED_ROWS = 100_000  # a latency gate times rows one by one: bounded, so it ends


@dataclass(frozen=True)
class LatencyLimit:
    """p99 of ``rows`` single-row predictions (after ``warmup``) at most ``max_p99_ms``.

    Timed here, in this process, on holdout rows: what one model call costs, without the
    network and feature lookups of serving. ``predict_proba`` is timed when the model
    has it (what serving answers a classifier with), else ``predict``.
    """

    max_p99_ms: float
    rows: int = 200
    warmup: int = 10
    name: str = "latency"

    def __post_init__(self) -> None:
        set_field(self, "max_p99_ms", finite(self.max_p99_ms, "max_p99_ms", minimum=0.0))
        if self.max_p99_ms == 0:
            raise InvalidInput("max_p99_ms must be above 0", field="max_p99_ms")
        set_field(self, "rows", count(self.rows, "rows", minimum=1, maximum=MAX_TIMED_ROWS))
        set_field(self, "warmup", count(self.warmup, "warmup", minimum=0, maximum=MAX_TIMED_ROWS))
        set_field(self, "name", gate_name(self.name, "latency"))

    def check(self, candidate: Candidate) -> GateResult:
        try:
            p99 = p99_latency_ms(candidate.model, candidate, self.rows, self.warmup)
        except Unmeasurable as exc:
            return GateResult(self.name, (_unmeasured("p99_latency_ms", str(exc)),))
        return GateResult(self.name, (_compare("p99_latency_ms", p99, "<=", self.max_p99_ms),))


@dataclass(frozen=True)
class SizeLimit:
    """The serialized artifact at most ``max_bytes``."""

    max_bytes: int
    name: str = "size"

    def __post_init__(self) -> None:
        set_field(self, "max_bytes", count(self.max_bytes, "max_bytes", minimum=1))
        set_field(self, "name", gate_name(self.name, "size"))

    def check(self, candidate: Candidate) -> GateResult:
        if not isinstance(candidate.artifact, bytes | bytearray | memoryview):
            return GateResult(self.name, (_unmeasured("artifact_bytes", "artifact is not bytes"),))
        size = float(len(candidate.artifact))
        return GateResult(self.name, (_compare("artifact_bytes", size, "<=", self.max_bytes),))


@dataclass(frozen=True)
class ServedFeatures:
    """Every input feature of the candidate is a field of the endpoint's feature service.

    An endpoint without a feature service (``served_fields`` None) takes its inputs from
    the request: the gate passes saying so, unless ``require_feature_service``.
    """

    require_feature_service: bool = False
    name: str = "schema"

    def __post_init__(self) -> None:
        if not isinstance(self.require_feature_service, bool):
            raise InvalidInput(
                "require_feature_service must be true or false", field="require_feature_service"
            )
        set_field(self, "name", gate_name(self.name, "schema"))

    def check(self, candidate: Candidate) -> GateResult:
        if candidate.served_fields is None:
            reason = "endpoint has no feature service" + (
                " (one is required)" if self.require_feature_service else ""
            )
            check = Check(
                "unserved_features", not self.require_feature_service, None, 0.0, "<=", reason
            )
            return GateResult(self.name, (check,))
        served = set(candidate.served_fields)
        missing = [f for f in candidate.features if f not in served]
        check = _compare("unserved_features", float(len(missing)), "<=", 0.0)
        if missing:
            check = replace(check, reason=f"not served by the feature service: {missing}")
        return GateResult(self.name, (check,))


def _compare(
    name: str, measured: float | None, comparison: str, limit: float, why: str = ""
) -> Check:
    if measured is None:
        reason = f"{name} is undefined on the holdout{why}"
        return _unmeasured(name, reason, limit, comparison)
    if not math.isfinite(measured):
        return _unmeasured(name, f"{name} is {measured} on the holdout", limit, comparison)
    passed = measured >= limit if comparison == ">=" else measured <= limit
    word = "minimum" if comparison == ">=" else "maximum"
    if passed:
        reason = f"{name} {measured:.6g} within {word} {limit:.6g}"
    else:
        gap = abs(measured - limit)
        reason = f"{name} {measured:.6g} {'<' if comparison == '>=' else '>'} {word} {limit:.6g} (by {gap:.6g})"
    return Check(name, passed, measured, limit, comparison, reason)


def _unmeasured(
    name: str, reason: str, limit: float | None = None, comparison: str = ">="
) -> Check:
    return Check(name, False, None, limit, comparison, f"cannot evaluate: {reason}")


def _json_float(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None
