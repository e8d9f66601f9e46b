"""The canary verdict, rule by rule and at each rule's boundary."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ailayer.core.errors import InvalidInput
from ailayer.rollout.policy import CanaryPlan, Policy, Variant
from ailayer.rollout.verdict import MIN_EVIDENCE, Decision, VariantStats, decide, evidence

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
PLAN = CanaryPlan(
    steps=(5, 25, 50, 100),
    step_seconds=60,
    min_requests=100,
    max_error_rate_increase=0.01,
    max_p99_ratio=1.5,
    max_quality_drop=0.05,
)
HEALTHY = VariantStats(requests=2000, errors=4, p99_ms=20.0)


def canary_policy(
    step: int = 0, plan: CanaryPlan = PLAN, changed_at: datetime | None = T0
) -> Policy:
    share = plan.steps[step]
    return Policy(
        endpoint="fraud",
        kind="canary",
        variants=(
            Variant("stable", "fraud", 1, 100 - share),
            Variant("canary", "fraud", 2, share),
        ),
        canary=plan,
        step=step,
        revision=3,
        changed_at=changed_at,
    )


def judge(
    canary: VariantStats,
    stable: VariantStats = HEALTHY,
    *,
    seconds: float = 120,
    policy: Policy | None = None,
) -> Decision:
    return decide(policy or canary_policy(), stable, canary, T0 + timedelta(seconds=seconds))


# -- stepping -------------------------------------------------------------------------


def test_a_healthy_canary_steps_to_the_next_share_and_says_what_it_measured() -> None:
    decision = judge(VariantStats(requests=150, errors=0, p99_ms=22.0))
    assert decision.action == "step"
    assert decision.reason.startswith("step to 25%: 150 canary requests in 120 s")
    assert "p99 22.0 ms vs 20.0 ms (ratio 1.10, bound 1.5)" in decision.reason
    assert decision.measured["canary_requests"] == 150
    assert decision.measured["p99_ratio"] == pytest.approx(1.1)
    assert decision.measured["stable_error_rate"] == pytest.approx(0.002)


def test_the_step_before_100_promotes() -> None:
    decision = judge(VariantStats(requests=150, p99_ms=20.0), policy=canary_policy(step=2))
    assert decision.action == "promote"
    assert decision.reason.startswith("promote to 100%")


def test_holds_until_step_seconds_have_passed_exactly() -> None:
    canary = VariantStats(requests=500, p99_ms=20.0)
    early = judge(canary, seconds=59.9)
    assert (early.action, early.reason) == ("hold", "at 5% for 59 s of 60 s")
    assert judge(canary, seconds=60).action == "step"


def test_holds_until_min_requests_exactly() -> None:
    held = judge(VariantStats(requests=99, p99_ms=20.0))
    assert held.action == "hold"
    assert held.reason == "canary has 99 of 100 requests after 120 s at 5%"
    assert judge(VariantStats(requests=100, p99_ms=20.0)).action == "step"


def test_a_canary_without_traffic_holds_and_says_so_however_long_it_waits() -> None:
    decision = judge(VariantStats(), seconds=86_400)
    assert decision.action == "hold"
    assert decision.reason == (
        "canary has 0 of 100 requests after 86400 s at 5% (is traffic reaching it?)"
    )


def test_a_stable_side_without_traffic_holds_the_step_latency_is_not_compared() -> None:
    decision = judge(VariantStats(requests=150, p99_ms=20.0), stable=VariantStats())
    assert decision.action == "hold"
    assert decision.reason == "stable has 0 of 50 answered requests: latency cannot be compared yet"


def test_a_canary_whose_answers_are_too_few_for_a_p99_holds() -> None:
    loose = CanaryPlan(min_requests=100, max_error_rate_increase=1.0)
    canary = VariantStats(requests=100, errors=60, p99_ms=20.0)
    decision = judge(canary, policy=canary_policy(plan=loose))
    assert decision.action == "hold"
    assert decision.reason.startswith("canary has 40 of 50 answered requests")


def test_a_policy_without_changed_at_holds() -> None:
    decision = judge(VariantStats(requests=500, p99_ms=1.0), policy=canary_policy(changed_at=None))
    assert decision.action == "hold"
    assert "no changed_at" in decision.reason


def test_a_changed_at_in_the_future_counts_as_no_time_passed() -> None:
    decision = judge(VariantStats(requests=500, p99_ms=20.0), seconds=-30)
    assert decision.action == "hold"
    assert decision.measured["elapsed_seconds"] == 0.0


def test_naive_times_are_taken_as_utc() -> None:
    policy = canary_policy(changed_at=T0.replace(tzinfo=None))
    decision = decide(
        policy, HEALTHY, VariantStats(requests=500, p99_ms=20.0), T0 + timedelta(minutes=5)
    )
    assert decision.action == "step"


# -- error rate -----------------------------------------------------------------------


def test_an_error_rate_over_the_bound_rolls_back_at_once() -> None:
    canary = VariantStats(requests=100, errors=12, p99_ms=20.0)
    decision = judge(canary, stable=VariantStats(requests=1000, errors=2, p99_ms=20.0), seconds=1)
    assert decision.action == "rollback"
    assert decision.reason == (
        "canary error rate 0.120 exceeds stable 0.002 + 0.010 (12 of 100 requests failed)"
    )


def test_an_error_rate_exactly_at_the_bound_is_no_breach() -> None:
    stable = VariantStats(requests=1000, errors=2, p99_ms=20.0)
    at_bound = VariantStats(requests=1000, errors=12, p99_ms=20.0)
    assert judge(at_bound, stable=stable).action == "step"
    over = VariantStats(requests=1000, errors=13, p99_ms=20.0)
    assert judge(over, stable=stable).action == "rollback"


def test_error_rate_is_judged_only_on_enough_canary_requests() -> None:
    assert evidence(PLAN) == MIN_EVIDENCE == 50
    few = VariantStats(requests=49, errors=49)
    assert judge(few).action == "hold"
    assert judge(VariantStats(requests=50, errors=50)).action == "rollback"


def test_a_small_min_requests_lowers_the_evidence_needed() -> None:
    small = CanaryPlan(min_requests=10)
    assert evidence(small) == 10
    decision = judge(VariantStats(requests=10, errors=5), policy=canary_policy(plan=small))
    assert decision.action == "rollback"


def test_a_stable_side_without_enough_traffic_is_a_baseline_of_zero() -> None:
    stable = VariantStats(requests=3, errors=3, p99_ms=20.0)
    canary = VariantStats(requests=200, errors=20, p99_ms=20.0)
    decision = judge(canary, stable=stable)
    assert decision.action == "rollback"
    assert decision.reason.startswith("canary error rate 0.100 exceeds stable 0.000 + 0.010")
    assert "(stable has 3 of 50 requests: baseline 0)" in decision.reason


def test_a_bound_of_zero_rolls_back_on_any_increase() -> None:
    strict = CanaryPlan(max_error_rate_increase=0.0)
    stable = VariantStats(requests=1000, errors=0, p99_ms=20.0)
    policy = canary_policy(plan=strict)
    assert judge(VariantStats(requests=100, p99_ms=20.0), stable, policy=policy).action == "step"
    decision = judge(VariantStats(requests=100, errors=1, p99_ms=20.0), stable, policy=policy)
    assert decision.action == "rollback"


# -- latency --------------------------------------------------------------------------


def test_a_p99_ratio_over_the_bound_rolls_back_with_both_values_in_the_reason() -> None:
    decision = judge(VariantStats(requests=60, p99_ms=40.0), seconds=5)
    assert decision.action == "rollback"
    assert decision.reason == "canary p99 latency 40.0 ms is 2.00 times stable 20.0 ms, above 1.5"


def test_a_p99_ratio_exactly_at_the_bound_is_no_breach() -> None:
    assert judge(VariantStats(requests=200, p99_ms=30.0)).action == "step"
    assert judge(VariantStats(requests=200, p99_ms=30.01)).action == "rollback"


def test_p99_is_judged_only_once_both_sides_have_enough_answers() -> None:
    slow = VariantStats(requests=49, p99_ms=500.0)
    assert judge(slow).action == "hold"
    few_stable = VariantStats(requests=49, p99_ms=20.0)
    assert judge(VariantStats(requests=200, p99_ms=500.0), stable=few_stable).action == "hold"
    assert judge(VariantStats(requests=50, p99_ms=500.0)).action == "rollback"


def test_a_zero_stable_p99_is_floored_at_one_millisecond() -> None:
    stable = VariantStats(requests=1000, p99_ms=0.0)
    assert judge(VariantStats(requests=200, p99_ms=1.5), stable).action == "step"
    decision = judge(VariantStats(requests=200, p99_ms=1.6), stable)
    assert decision.action == "rollback"
    assert "1.60 times stable 1.0 ms (floored)" in decision.reason


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_a_latency_that_is_not_finite_is_never_stepped_on(bad: float) -> None:
    canary_bad = judge(VariantStats(requests=200, p99_ms=bad))
    stable_bad = judge(VariantStats(requests=200, p99_ms=20.0), VariantStats(1000, 0, bad))
    for decision in (canary_bad, stable_bad):
        assert decision.action == "hold"
        assert "not a finite number" in decision.reason
        assert decision.measured["p99_ratio"] is None


# -- quality --------------------------------------------------------------------------


def labelled(quality: float | None, labels: int = 100, **counts: int) -> VariantStats:
    return VariantStats(
        requests=counts.get("requests", 1000),
        p99_ms=20.0,
        quality=quality,
        labelled=labels,
        quality_metric="accuracy",
    )


def test_a_quality_drop_over_the_bound_rolls_back() -> None:
    decision = judge(labelled(0.80), stable=labelled(0.90))
    assert decision.action == "rollback"
    assert decision.reason == (
        "canary accuracy 0.800 is below stable 0.900 - 0.050 (100 and 100 labels)"
    )


def test_a_quality_drop_exactly_at_the_bound_is_no_breach() -> None:
    assert judge(labelled(0.85), stable=labelled(0.90)).action == "step"
    assert judge(labelled(0.849), stable=labelled(0.90)).action == "rollback"


def test_quality_is_judged_only_when_both_sides_have_enough_labels() -> None:
    assert judge(labelled(0.1, labels=49), stable=labelled(0.9)).action == "step"
    assert judge(labelled(0.1), stable=labelled(0.9, labels=0)).action == "step"
    assert judge(labelled(None, labels=0), stable=labelled(0.9)).action == "step"
    assert judge(labelled(0.1, labels=50), stable=labelled(0.9, labels=50)).action == "rollback"


def test_quality_is_not_judged_without_a_bound_or_on_an_undefined_value() -> None:
    unbounded = canary_policy(plan=CanaryPlan(max_quality_drop=None))
    assert judge(labelled(0.1), stable=labelled(0.9), policy=unbounded).action == "step"
    undefined = judge(labelled(float("nan")), stable=labelled(0.9))
    assert undefined.action == "step"
    assert undefined.measured["canary_quality"] is None


def test_every_breach_is_named_in_one_reason() -> None:
    canary = VariantStats(
        requests=200, errors=100, p99_ms=90.0, quality=0.5, labelled=60, quality_metric="accuracy"
    )
    decision = judge(canary, stable=labelled(0.9))
    assert decision.action == "rollback"
    parts = decision.reason.split("; ")
    assert [p.split(" ")[1] for p in parts] == ["error", "p99", "accuracy"]


# -- input ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"requests": -1}, "requests"),
        ({"requests": 1.5}, "requests"),
        ({"requests": True}, "requests"),
        ({"requests": 3, "errors": 4}, "errors"),
        ({"labelled": -2}, "labelled"),
    ],
)
def test_impossible_counts_are_refused_naming_the_field(fields: dict, field: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        VariantStats(**fields)
    assert raised.value.field == field


def test_only_an_active_canary_is_judged() -> None:
    single = Policy(endpoint="fraud", kind="single", variants=(Variant("stable", "fraud", 1, 100),))
    with pytest.raises(InvalidInput) as raised:
        decide(single, HEALTHY, HEALTHY, T0)
    assert raised.value.field == "kind"
    rolled = canary_policy().rolled_back("by hand")
    with pytest.raises(InvalidInput) as raised:
        decide(rolled, HEALTHY, HEALTHY, T0)
    assert raised.value.field == "state"
