"""The canary verdict: given what each variant did since the last step, what to do now.

Pure (no I/O, no clock): ``decide(policy, stable, canary, now)`` reads the policy's
``CanaryPlan`` and returns a ``Decision``:

- ``rollback`` at once, whatever the step's age, when a bound is breached:
  the canary's error rate exceeds the stable one by more than ``max_error_rate_increase``;
  its p99 latency exceeds ``max_p99_ratio`` times the stable one (floored at
  ``P99_FLOOR_MS``); or its quality metric is below the stable one by more than
  ``max_quality_drop``. A rule is judged only on evidence: once each side it compares
  has ``evidence(plan)`` = min(``MIN_EVIDENCE``, ``min_requests``) observations (answered
  requests for latency, labels for quality, canary requests for the error rate, whose
  stable baseline is 0 while stable has fewer);
- ``hold`` while the step is younger than ``step_seconds``, the canary has fewer than
  ``min_requests`` requests, the stable side has too few requests to compare latency
  with, or a latency is not a finite number;
- ``step`` to the next share, or ``promote`` when the next share is 100.

Every reason names the measured values and the bound they were held to, e.g.
``canary error rate 0.120 exceeds stable 0.002 + 0.010``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from ailayer.core.errors import InvalidInput
from ailayer.rollout.policy import CanaryPlan, Policy

Action = Literal["hold", "step", "promote", "rollback"]
MIN_EVIDENCE = 50  # observations a side needs before a rule compares it
P99_FLOOR_MS = 1.0  # a stable p99 below this counts as this (no ratio over ~0 ms)


@dataclass(frozen=True, slots=True)
class VariantStats:
    """What one variant did in a window: ``requests`` (failed ones included), ``errors``
    (failed requests), ``p99_ms`` of the answered requests (None without any), and a
    quality metric where labels arrived (higher is better: accuracy, or R² for
    regression; None without labels or when undefined), over ``labelled`` predictions."""

    requests: int = 0
    errors: int = 0
    p99_ms: float | None = None
    quality: float | None = None
    labelled: int = 0
    quality_metric: str = ""

    def __post_init__(self) -> None:
        for name in ("requests", "errors", "labelled"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InvalidInput(
                    f"{name} must be an integer of at least 0, got {value!r}", field=name
                )
        if self.errors > self.requests:
            raise InvalidInput(
                f"errors ({self.errors}) cannot exceed requests ({self.requests})",
                field="errors",
            )

    @property
    def answered(self) -> int:
        return self.requests - self.errors

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.requests if self.requests else None


@dataclass(frozen=True, slots=True)
class Decision:
    """What to do with a canary, why (in words), and the numbers the words came from
    (JSON-safe: non-finite values are None)."""

    action: Action
    reason: str
    measured: dict[str, Any] = field(default_factory=dict)


def evidence(plan: CanaryPlan) -> int:
    """Observations each compared side needs before a rule judges it."""
    return min(MIN_EVIDENCE, plan.min_requests)


def decide(policy: Policy, stable: VariantStats, canary: VariantStats, now: datetime) -> Decision:
    """The verdict on an active canary policy from its variants' stats since
    ``policy.changed_at``."""
    plan = _active_plan(policy)
    elapsed = _elapsed(policy.changed_at, now)
    measured = _measured(plan, stable, canary, elapsed)
    breaches = _breaches(plan, stable, canary, measured)
    if breaches:
        return Decision("rollback", "; ".join(breaches), measured)
    waiting = _waiting(policy, plan, stable, canary, elapsed)
    if waiting:
        return Decision("hold", waiting, measured)
    following = policy.step + 1
    share = plan.steps[following] if following < len(plan.steps) else 100
    summary = _summary(plan, canary, measured)
    if share == 100:
        return Decision("promote", f"promote to 100%: {summary}", measured)
    return Decision("step", f"step to {share}%: {summary}", measured)


def _active_plan(policy: Policy) -> CanaryPlan:
    if policy.kind != "canary" or policy.canary is None:
        raise InvalidInput(
            f"endpoint {policy.endpoint!r} has no canary (its policy is {policy.kind!r})",
            field="kind",
        )
    if policy.state != "active":
        raise InvalidInput(
            f"the canary of {policy.endpoint!r} is {policy.state}, not active", field="state"
        )
    return policy.canary


def _elapsed(changed_at: datetime | None, now: datetime) -> float | None:
    """Seconds since the step began; None when the policy says nothing of when. A
    ``changed_at`` ahead of ``now`` (clocks apart) counts as 0."""
    if changed_at is None:
        return None
    return max(0.0, (_utc(now) - _utc(changed_at)).total_seconds())


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _measured(
    plan: CanaryPlan, stable: VariantStats, canary: VariantStats, elapsed: float | None
) -> dict[str, Any]:
    stable_p99, canary_p99 = _finite(stable.p99_ms), _finite(canary.p99_ms)
    ratio = None
    if stable_p99 is not None and canary_p99 is not None:
        ratio = canary_p99 / max(stable_p99, P99_FLOOR_MS)
    return {
        "elapsed_seconds": elapsed,
        "stable_requests": stable.requests,
        "canary_requests": canary.requests,
        "stable_error_rate": stable.error_rate,
        "canary_error_rate": canary.error_rate,
        "stable_p99_ms": stable_p99,
        "canary_p99_ms": canary_p99,
        "p99_ratio": _finite(ratio),
        "quality_metric": canary.quality_metric or stable.quality_metric or None,
        "stable_quality": _finite(stable.quality),
        "canary_quality": _finite(canary.quality),
        "stable_labelled": stable.labelled,
        "canary_labelled": canary.labelled,
        "evidence": evidence(plan),
    }


def _breaches(
    plan: CanaryPlan, stable: VariantStats, canary: VariantStats, measured: dict[str, Any]
) -> list[str]:
    found = [
        _error_breach(plan, stable, canary),
        _latency_breach(plan, stable, canary, measured),
        _quality_breach(plan, stable, canary, measured),
    ]
    return [reason for reason in found if reason]


def _exceeds(value: float, bound: float) -> bool:
    """``value > bound``, with a value a rounding error above the bound counted as at it
    (12/1000 - 2/1000 is a hair above 0.01 in floating point)."""
    return value > bound + 1e-12 * max(1.0, abs(bound))


def _error_breach(plan: CanaryPlan, stable: VariantStats, canary: VariantStats) -> str:
    need = evidence(plan)
    if canary.requests < need:
        return ""
    canary_rate = canary.errors / canary.requests
    baseline, note = 0.0, f" (stable has {stable.requests} of {need} requests: baseline 0)"
    if stable.requests >= need:
        baseline, note = stable.errors / stable.requests, ""
    bound = plan.max_error_rate_increase
    if not _exceeds(canary_rate - baseline, bound):
        return ""
    return (
        f"canary error rate {canary_rate:.3f} exceeds stable {baseline:.3f} + {bound:.3f}"
        f" ({canary.errors} of {canary.requests} requests failed){note}"
    )


def _latency_breach(
    plan: CanaryPlan, stable: VariantStats, canary: VariantStats, measured: dict[str, Any]
) -> str:
    need, ratio = evidence(plan), measured["p99_ratio"]
    if min(stable.answered, canary.answered) < need or ratio is None:
        return ""
    if not _exceeds(ratio, plan.max_p99_ratio):
        return ""
    floor = " (floored)" if measured["stable_p99_ms"] < P99_FLOOR_MS else ""
    return (
        f"canary p99 latency {measured['canary_p99_ms']:.1f} ms is {ratio:.2f} times stable "
        f"{max(measured['stable_p99_ms'], P99_FLOOR_MS):.1f} ms{floor}, "
        f"above {plan.max_p99_ratio:g}"
    )


def _quality_breach(
    plan: CanaryPlan, stable: VariantStats, canary: VariantStats, measured: dict[str, Any]
) -> str:
    bound = plan.max_quality_drop
    ours, theirs = measured["canary_quality"], measured["stable_quality"]
    if bound is None or ours is None or theirs is None:
        return ""
    if min(stable.labelled, canary.labelled) < evidence(plan) or not _exceeds(theirs - ours, bound):
        return ""
    name = measured["quality_metric"] or "quality"
    return (
        f"canary {name} {ours:.3f} is below stable {theirs:.3f} - {bound:.3f} "
        f"({canary.labelled} and {stable.labelled} labels)"
    )


def _waiting(
    policy: Policy,
    plan: CanaryPlan,
    stable: VariantStats,
    canary: VariantStats,
    elapsed: float | None,
) -> str:
    share = policy.variant("canary").share
    if elapsed is None:
        return "policy has no changed_at: cannot tell how long this step has run"
    if elapsed < plan.step_seconds:
        return f"at {share}% for {int(elapsed)} s of {plan.step_seconds:g} s"
    if canary.requests < plan.min_requests:
        hint = " (is traffic reaching it?)" if canary.requests == 0 else ""
        return (
            f"canary has {canary.requests} of {plan.min_requests} requests after "
            f"{int(elapsed)} s at {share}%{hint}"
        )
    need = evidence(plan)
    for name, stats in (("stable", stable), ("canary", canary)):
        if stats.answered < need:
            return (
                f"{name} has {stats.answered} of {need} answered requests: "
                "latency cannot be compared yet"
            )
    if _finite(canary.p99_ms) is None or _finite(stable.p99_ms) is None:
        return (
            f"p99 latency is not a finite number (stable {stable.p99_ms}, "
            f"canary {canary.p99_ms}): not stepping on it"
        )
    return ""


def _summary(plan: CanaryPlan, canary: VariantStats, measured: dict[str, Any]) -> str:
    parts = [
        f"{canary.requests} canary requests in {int(measured['elapsed_seconds'])} s",
        f"error rate {measured['canary_error_rate']:.3f} vs stable "
        f"{measured['stable_error_rate'] or 0.0:.3f} (bound +{plan.max_error_rate_increase:.3f})",
    ]
    if measured["p99_ratio"] is not None:
        parts.append(
            f"p99 {measured['canary_p99_ms']:.1f} ms vs {measured['stable_p99_ms']:.1f} ms "
            f"(ratio {measured['p99_ratio']:.2f}, bound {plan.max_p99_ratio:g})"
        )
    if measured["canary_quality"] is not None and measured["stable_quality"] is not None:
        parts.append(
            f"{measured['quality_metric'] or 'quality'} {measured['canary_quality']:.3f} "
            f"vs {measured['stable_quality']:.3f}"
        )
    return ", ".join(parts)
