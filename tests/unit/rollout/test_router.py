"""The router: shares hold over many keys and at random, keys stick to their variant, and
a growing canary only takes keys in."""

from __future__ import annotations

from collections import Counter

import pytest

from ailayer.rollout.policy import CanaryPlan, Policy, Variant
from ailayer.rollout.router import Router

KEYS = range(20_000)


def ab(*shares: int, sticky: str | None = "user_id") -> Policy:
    variants = tuple(Variant(f"v{i}", "fraud", i + 1, share) for i, share in enumerate(shares))
    return Policy("checkout", "ab", variants, sticky_key=sticky)


def canary(share: int) -> Policy:
    plan = CanaryPlan(steps=(5, 25, 50, 100))
    variants = (Variant("stable", "fraud", 1, 100 - share), Variant("canary", "fraud", 2, share))
    return Policy("checkout", "canary", variants, sticky_key="user_id", canary=plan)


def picks(router: Router, keys=KEYS) -> list[int]:  # type: ignore[no-untyped-def]
    return router.assign([{"user_id": key} for key in keys])


@pytest.mark.parametrize("shares", [(50, 50), (70, 30), (90, 5, 5), (1, 99)])
def test_sticky_shares_hold_over_many_keys(shares: tuple[int, ...]) -> None:
    counts = Counter(picks(Router("t1", ab(*shares))))
    for index, share in enumerate(shares):
        assert counts[index] / len(KEYS) == pytest.approx(share / 100, abs=0.012)


def test_random_shares_hold_without_a_key() -> None:
    router = Router("t1", ab(80, 20, sticky=None))
    counts = Counter(router.assign([{"amount": 1.0}] * 20_000))
    assert counts[1] / 20_000 == pytest.approx(0.2, abs=0.012)
    assert set(counts) == {0, 1}


def test_records_without_the_key_are_spread_at_random() -> None:
    router = Router("t1", ab(50, 50))
    assert set(router.assign([{"amount": 1.0}] * 200)) == {0, 1}


def test_a_key_gets_the_same_variant_every_time_and_in_every_process() -> None:
    first = picks(Router("t1", ab(50, 50)))
    again = picks(Router("t1", ab(50, 50)))  # a new router: another process, same shares
    assert first == again
    assert len(set(first)) == 2


def test_the_key_is_the_value_not_its_json_type() -> None:
    router = Router("t1", ab(50, 50))
    assert router.bucket(42) == router.bucket("42") == router.bucket(42.0)
    assert router.bucket(True) != router.bucket("True")


def test_tenants_and_endpoints_split_keys_independently() -> None:
    one = picks(Router("t1", ab(50, 50)))
    other = picks(Router("t2", ab(50, 50)))
    agreement = sum(a == b for a, b in zip(one, other, strict=True)) / len(KEYS)
    assert agreement == pytest.approx(0.5, abs=0.03)


def test_growing_a_canary_only_moves_keys_into_it() -> None:
    at_5 = picks(Router("t1", canary(5)))
    at_25 = picks(Router("t1", canary(25)))
    moved_out = sum(a == 1 and b == 0 for a, b in zip(at_5, at_25, strict=True))
    moved_in = sum(a == 0 and b == 1 for a, b in zip(at_5, at_25, strict=True))
    assert moved_out == 0
    assert moved_in / len(KEYS) == pytest.approx(0.20, abs=0.012)


def test_a_rolled_back_canary_gets_no_key() -> None:
    policy = canary(25).rolled_back("p99 too high")
    router = Router("t1", policy)
    assert [v.name for v in policy.live] == ["stable"]
    assert set(picks(router)) == {0}
