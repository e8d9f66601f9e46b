"""An endpoint's traffic policy: which model versions answer, and with what share.

A policy is a frozen value, validated when it is built, so a policy that exists is one
that can serve: live shares are whole percents summing to 100, variant names are unique,
and a canary has a stable variant to fall back to. Four kinds:

- ``single``  one live variant at 100%;
- ``ab``      two or more live variants with fixed shares (sticky per ``sticky_key``);
- ``canary``  a ``stable`` and a ``canary`` variant; the canary's share follows
              ``CanaryPlan.steps`` and drops to 0 on a breach;
- any kind may add ``shadow`` variants: they get a copy of the traffic, never answer.

Each stored change bumps ``revision``; writers compare-and-set on it, so two controllers
(or a controller and a person) never both move one endpoint.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal, Protocol

from ailayer.core.errors import InvalidInput
from ailayer.core.names import check_name

Kind = Literal["single", "ab", "canary"]
State = Literal["active", "promoted", "rolled_back"]
KINDS: tuple[str, ...] = ("single", "ab", "canary")
STABLE, CANARY = "stable", "canary"
DEFAULT_STEPS: tuple[int, ...] = (5, 25, 50, 100)
MAX_VARIANTS = 10


@dataclass(frozen=True, slots=True)
class Variant:
    """One model version in a policy. ``share`` is a whole percent of live traffic
    (0 for a shadow, or for a canary sent back to 0 by a rollback)."""

    name: str
    model: str
    version: int
    share: int
    shadow: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "model": self.model,
            "version": self.version,
            "share": self.share,
            "shadow": self.shadow,
        }


@dataclass(frozen=True, slots=True)
class CanaryPlan:
    """How a canary is stepped and judged against the stable variant.

    The canary stays at each step for at least ``step_seconds`` and ``min_requests`` of
    its own requests; it is rolled back at once when, over the step so far, its error
    rate exceeds the stable one by more than ``max_error_rate_increase`` (absolute), its
    p99 latency exceeds ``max_p99_ratio`` times the stable one, or, where labels arrived,
    its quality metric falls short of the stable one by more than ``max_quality_drop``.
    """

    steps: tuple[int, ...] = DEFAULT_STEPS
    step_seconds: float = 60.0
    min_requests: int = 100
    max_error_rate_increase: float = 0.01
    max_p99_ratio: float = 1.5
    max_quality_drop: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "steps": list(self.steps),
            "step_seconds": self.step_seconds,
            "min_requests": self.min_requests,
            "max_error_rate_increase": self.max_error_rate_increase,
            "max_p99_ratio": self.max_p99_ratio,
            "max_quality_drop": self.max_quality_drop,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CanaryPlan:
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise InvalidInput(
                f"canary has unknown fields {unknown}; known: {sorted(known)}", field="canary"
            )
        values = dict(data)
        if "steps" in values:
            values["steps"] = tuple(_whole_percent("canary.steps", s) for s in values["steps"])
        plan = cls(**values)
        plan.check()
        return plan

    def check(self) -> None:
        if not self.steps:
            raise InvalidInput("canary.steps must not be empty", field="canary.steps")
        for step in self.steps:
            _whole_percent("canary.steps", step)
            if step == 0:
                raise InvalidInput("canary.steps must be above 0", field="canary.steps")
        if list(self.steps) != sorted(set(self.steps)):
            raise InvalidInput(
                f"canary.steps must rise strictly, got {list(self.steps)}", field="canary.steps"
            )
        if self.steps[-1] != 100:
            raise InvalidInput(
                f"canary.steps must end at 100, got {list(self.steps)}", field="canary.steps"
            )
        _positive("canary.step_seconds", self.step_seconds, allow_zero=True)
        if not isinstance(self.min_requests, int) or self.min_requests < 1:
            raise InvalidInput(
                "canary.min_requests must be an integer of at least 1",
                field="canary.min_requests",
            )
        _positive("canary.max_error_rate_increase", self.max_error_rate_increase, allow_zero=True)
        _positive("canary.max_p99_ratio", self.max_p99_ratio)
        if self.max_quality_drop is not None:
            _positive("canary.max_quality_drop", self.max_quality_drop, allow_zero=True)


@dataclass(frozen=True, slots=True)
class Policy:
    """An endpoint's traffic policy at one revision."""

    endpoint: str
    kind: Kind
    variants: tuple[Variant, ...]
    sticky_key: str | None = None
    canary: CanaryPlan | None = None
    step: int = 0
    state: State = "active"
    reason: str = ""
    revision: int = 0
    changed_at: datetime | None = None  # when this revision was stored (set by the store)

    def __post_init__(self) -> None:
        self.check()

    # -- reading ---------------------------------------------------------------------

    @property
    def live(self) -> tuple[Variant, ...]:
        """Variants that answer requests (share above 0, not shadows)."""
        return tuple(v for v in self.variants if not v.shadow and v.share > 0)

    @property
    def shadows(self) -> tuple[Variant, ...]:
        return tuple(v for v in self.variants if v.shadow)

    def variant(self, name: str) -> Variant:
        for variant in self.variants:
            if variant.name == name:
                return variant
        raise InvalidInput(f"policy of {self.endpoint!r} has no variant {name!r}", field="variant")

    # -- changing (each returns a new policy; the store bumps the revision) -----------

    def at_step(self, step: int) -> Policy:
        """A canary moved to ``steps[step]`` percent; the last step is a promotion."""
        plan = self._plan()
        share = plan.steps[step]
        if share == 100:
            return self.promoted("reached 100%")
        variants = tuple(
            replace(v, share=share if v.name == CANARY else 100 - share)
            if v.name in (STABLE, CANARY)
            else v
            for v in self.variants
        )
        return replace(self, variants=variants, step=step, reason=f"step to {share}%")

    def promoted(self, reason: str) -> Policy:
        """The canary becomes the single live version (shadows stay)."""
        canary = self.variant(CANARY)
        stable = replace(canary, name=STABLE, share=100)
        return replace(
            self,
            kind="single",
            variants=(stable, *self.shadows),
            canary=self.canary,
            state="promoted",
            reason=reason,
        )

    def rolled_back(self, reason: str) -> Policy:
        """The canary at 0% at once, the stable version at 100%; kept for the record."""
        self._plan()
        variants = tuple(
            replace(v, share=100 if v.name == STABLE else 0) if v.name in (STABLE, CANARY) else v
            for v in self.variants
        )
        return replace(self, variants=variants, state="rolled_back", reason=reason)

    # -- validation -------------------------------------------------------------------

    def _plan(self) -> CanaryPlan:
        if self.kind != "canary" or self.canary is None:
            raise InvalidInput(
                f"endpoint {self.endpoint!r} has no canary (its policy is {self.kind!r})",
                field="kind",
            )
        return self.canary

    def check(self) -> None:
        check_name("endpoint", self.endpoint)
        if self.kind not in KINDS:
            raise InvalidInput(
                f"kind must be one of {list(KINDS)}, got {self.kind!r}", field="kind"
            )
        if not self.variants:
            raise InvalidInput("variants must not be empty", field="variants")
        if len(self.variants) > MAX_VARIANTS:
            raise InvalidInput(f"at most {MAX_VARIANTS} variants", field="variants")
        names = [v.name for v in self.variants]
        if len(set(names)) != len(names):
            raise InvalidInput(f"variant names must be unique, got {names}", field="variants")
        for v in self.variants:
            check_name("variants.name", v.name)
            check_name("variants.model", v.model)
            if not isinstance(v.version, int) or isinstance(v.version, bool) or v.version < 1:
                raise InvalidInput(
                    f"variant {v.name!r}: version must be an integer of at least 1",
                    field="variants.version",
                )
            _whole_percent(f"variant {v.name!r} share", v.share, field="variants.share")
            if v.shadow and v.share != 0:
                raise InvalidInput(
                    f"shadow variant {v.name!r} must have share 0 (it never answers)",
                    field="variants.share",
                )
        live = [v for v in self.variants if not v.shadow]
        total = sum(v.share for v in live)
        if total != 100:
            shares = {v.name: v.share for v in live}
            raise InvalidInput(
                f"live variants' shares must sum to 100, got {total} ({shares})",
                field="variants.share",
            )
        if self.sticky_key is not None and not (
            isinstance(self.sticky_key, str) and 0 < len(self.sticky_key) <= 200
        ):
            raise InvalidInput(
                "sticky_key must be a record field name of 1 to 200 characters",
                field="sticky_key",
            )
        self._check_kind(live)

    def _check_kind(self, live: Sequence[Variant]) -> None:
        if self.kind == "single" and len(live) != 1:
            raise InvalidInput(
                f"a single policy has exactly one live variant, got {len(live)}", field="variants"
            )
        if self.kind == "ab" and len(live) < 2:
            raise InvalidInput(
                f"an A/B policy has at least two live variants, got {len(live)}",
                field="variants",
            )
        if self.kind != "canary":
            if self.canary is not None and self.state == "active":
                raise InvalidInput("only a canary policy takes canary settings", field="canary")
            return
        if self.canary is None:
            raise InvalidInput("a canary policy needs canary settings", field="canary")
        self.canary.check()
        if {v.name for v in self.variants if not v.shadow} != {STABLE, CANARY}:
            raise InvalidInput(
                f"a canary policy has exactly the live variants {STABLE!r} and {CANARY!r}",
                field="variants",
            )
        if not 0 <= self.step < len(self.canary.steps):
            raise InvalidInput(
                f"step must be in [0, {len(self.canary.steps) - 1}], got {self.step}",
                field="step",
            )

    # -- JSON --------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "kind": self.kind,
            "variants": [v.to_dict() for v in self.variants],
            "sticky_key": self.sticky_key,
            "canary": None if self.canary is None else self.canary.to_dict(),
            "step": self.step,
            "state": self.state,
            "reason": self.reason,
            "revision": self.revision,
            "changed_at": None if self.changed_at is None else self.changed_at.isoformat(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Policy:
        """A policy from its JSON form (as stored, or as a client sends it)."""
        try:
            variants = tuple(
                Variant(
                    name=v["name"],
                    model=v["model"],
                    version=v["version"],
                    share=_whole_percent("variants.share", v.get("share", 0)),
                    shadow=bool(v.get("shadow", False)),
                )
                for v in data["variants"]
            )
        except (KeyError, TypeError) as exc:
            raise InvalidInput(
                f"each variant needs name, model, version (and share): missing {exc}",
                field="variants",
            ) from None
        canary = data.get("canary")
        return cls(
            endpoint=data["endpoint"],
            kind=data.get("kind", "single"),
            variants=variants,
            sticky_key=data.get("sticky_key"),
            canary=None if canary is None else CanaryPlan.from_dict(canary),
            step=int(data.get("step", 0)),
            state=data.get("state", "active"),
            reason=str(data.get("reason", "")),
            revision=int(data.get("revision", 0)),
            changed_at=_datetime(data.get("changed_at")),
        )


REQUEST_FIELDS = ("kind", "variants", "sticky_key", "canary")


def requested(endpoint: str, body: Mapping[str, Any]) -> Policy:
    """A new deployment as a client asks for it: only ``kind``, ``variants``,
    ``sticky_key`` and ``canary`` (revision, step and state are the store's). A canary
    starts at its first step: its live shares come from ``canary.steps[0]``, so they may
    be left out; given, they must match it."""
    unknown = sorted(set(body) - set(REQUEST_FIELDS))
    if unknown:
        raise InvalidInput(
            f"unknown fields {unknown}; a deployment has {list(REQUEST_FIELDS)}", field=unknown[0]
        )
    variants = body.get("variants")
    if not isinstance(variants, list) or not all(isinstance(v, Mapping) for v in variants):
        raise InvalidInput("variants must be a list of objects", field="variants")
    data = {"endpoint": endpoint, **body, "variants": [dict(v) for v in variants]}
    if data.get("kind") == "canary":
        _starting_shares(data)
    return Policy.from_dict(data)


def _starting_shares(data: dict[str, Any]) -> None:
    """Fill (or check) the stable and canary shares from the plan's first step."""
    plan = CanaryPlan.from_dict(data.get("canary") or {})
    data["canary"] = plan.to_dict()
    first = plan.steps[0]
    wanted = {STABLE: 100 - first, CANARY: first}
    for variant in data["variants"]:
        name = variant.get("name")
        if name not in wanted or variant.get("shadow"):
            continue
        given = variant.setdefault("share", wanted[name])
        if given != wanted[name]:
            raise InvalidInput(
                f"a canary starts at its first step ({first}%): variant {name!r} takes share "
                f"{wanted[name]}, got {given!r} (leave shares out)",
                field="variants.share",
            )


class PolicyStore(Protocol):
    """Where policies are kept: the deployment service implements it, the rollout
    controller and the router depend on it."""

    def active(self, tenant_id: str, endpoint: str) -> Policy | None:
        """The endpoint's current policy, or None when it has none (alias routing)."""
        ...

    def canaries(self) -> list[tuple[str, Policy]]:
        """(tenant id, policy) of every canary in state ``active``, across tenants."""
        ...

    def transition(
        self, tenant_id: str, actor: str, expected_revision: int, policy: Policy
    ) -> Policy:
        """Store ``policy`` as the next revision if the current one is still
        ``expected_revision`` (else raise ``Conflict``); audited and kept in history."""
        ...


def _whole_percent(what: str, value: Any, *, field: str | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput(f"{what} must be a whole percent, got {value!r}", field=field or what)
    if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
        raise InvalidInput(f"{what} must be a whole percent, got {value!r}", field=field or what)
    if not 0 <= value <= 100:
        raise InvalidInput(f"{what} must be in [0, 100], got {value!r}", field=field or what)
    return int(value)


def _positive(what: str, value: Any, *, allow_zero: bool = False) -> None:
    ok = (
        not isinstance(value, bool)
        and isinstance(value, int | float)
        and math.isfinite(value)
        and (value >= 0 if allow_zero else value > 0)
    )
    if not ok:
        bound = "at least 0" if allow_zero else "above 0"
        raise InvalidInput(f"{what} must be a finite number {bound}, got {value!r}", field=what)


def _datetime(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        raise InvalidInput(
            f"changed_at must be an ISO 8601 time, got {value!r}", field="changed_at"
        ) from None
