"""The A/B experiment algorithm on hand-checked cases: the textbook sample sizes, the
fixed tests against scipy, the verdict only once the sample is reached, bad declarations
named, and any finite outcomes (empty, constant, huge, tiny, many) giving finite answers."""

from __future__ import annotations

import json
import math
import sys

import numpy as np
import pytest
from scipy import stats

from ailayer.core.errors import InvalidInput
from ailayer.monitoring.experiment import analyse

BIG = sys.float_info.max


def test_fixed_sample_sizes_are_the_textbook_ones_and_sequential_costs_about_twice() -> None:
    rng = np.random.default_rng(0)
    control = (np.arange(1000) < 100).astype(float)  # a rate of exactly 0.10
    rates = analyse({"a": control, "b": rng.random(1000) < 0.1}, "proportion", 0.05)
    [comparison] = rates.comparisons
    assert comparison.fixed_needed == 686  # p1 = 0.10, p2 = 0.15, alpha 0.05, power 0.8
    assert 1.6 < comparison.needed / comparison.fixed_needed < 2.2
    means = analyse({"a": [-1.0, 1.0] * 50, "b": [-1.0, 1.0] * 50}, "mean", 0.2)
    # variances 100/99 each: n = 2 sigma^2 (1.96 + 0.84)^2 / 0.2^2
    expected = 2 * (100 / 99) * (stats.norm.isf(0.025) + stats.norm.ppf(0.8)) ** 2 / 0.04
    assert means.comparisons[0].fixed_needed == math.ceil(expected)


def test_fixed_tests_match_scipy() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.normal(0, 1, 300), rng.normal(0.3, 2, 200)
    [welch] = analyse({"a": a, "b": b}, "mean", 0.1).comparisons
    expected = stats.ttest_ind(b, a, equal_var=False)
    assert welch.test == "Welch's t-test"
    assert welch.statistic == pytest.approx(expected.statistic)
    assert welch.fixed_p_value == pytest.approx(expected.pvalue)
    assert welch.difference == pytest.approx(b.mean() - a.mean())
    xa, xb = rng.random(400) < 0.2, rng.random(500) < 0.3
    [z] = analyse({"a": xa, "b": xb}, "proportion", 0.05).comparisons
    pooled = (xa.sum() + xb.sum()) / 900
    by_hand = (xb.mean() - xa.mean()) / math.sqrt(pooled * (1 - pooled) * (1 / 400 + 1 / 500))
    assert z.test == "two-proportion z-test" and z.statistic == pytest.approx(by_hand)
    assert z.fixed_p_value == pytest.approx(2 * stats.norm.sf(abs(by_hand)))


def test_verdict_only_once_the_sample_is_reached() -> None:
    rng = np.random.default_rng(2)
    a, b = rng.normal(0, 1, 5000), rng.normal(0.5, 1, 5000)
    early = analyse({"a": a[:100], "b": b[:100]}, "mean", 0.2).comparisons[0]
    assert early.p_value < 0.05  # clear already, yet the sample is not there
    assert early.verdict == "not enough data"
    assert early.message == f"not enough data: 100 of {early.needed:,} needed per variant"
    done = analyse({"a": a, "b": b}, "mean", 0.2).comparisons[0]
    assert (done.verdict, done.message) == ("better", "b better than a")
    assert 0 < done.interval[0] < done.interval[1]
    reverse = analyse({"b": b, "a": a}, "mean", 0.2).comparisons[0]
    assert (reverse.control, reverse.verdict, reverse.message) == ("b", "worse", "a worse than b")
    same = analyse({"a": a, "b": rng.normal(0, 1, 5000)}, "mean", 0.2).comparisons[0]
    assert same.verdict == "no significant difference" and same.interval[0] < 0 < same.interval[1]


def test_control_and_multiple_variants() -> None:
    rng = np.random.default_rng(3)
    data = {name: rng.random(200) < 0.3 for name in ("a", "b", "c")}
    result = analyse(data, "proportion", 0.1, control="b")
    assert (result.control, result.correction, result.method) == ("b", "bonferroni", "msprt")
    assert [c.variant for c in result.comparisons] == ["a", "c"]
    alone = analyse({"b": data["b"], "a": data["a"]}, "proportion", 0.1)
    assert result.comparisons[0].needed > alone.comparisons[0].needed  # alpha / 2
    assert [v.n for v in result.variants] == [200, 200, 200]
    assert [v.successes for v in result.variants] == [int(data[n].sum()) for n in "abc"]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"kind": "median"}, "kind"),
        ({"alpha": 0}, "alpha"),
        ({"alpha": 0.6}, "alpha"),
        ({"alpha": math.nan}, "alpha"),
        ({"power": 1}, "power"),
        ({"power": 0}, "power"),
        ({"effect": 0}, "effect"),
        ({"effect": -0.1}, "effect"),
        ({"effect": math.inf}, "effect"),
        ({"effect": math.nan}, "effect"),
        ({"kind": "proportion", "effect": 1.0}, "effect"),
        ({"control": "z"}, "control"),
        ({"outcomes": {"a": [1.0, math.nan], "b": [1.0]}}, "outcomes"),
        ({"kind": "proportion", "outcomes": {"a": [0.0, 2.0], "b": [1.0]}}, "outcomes"),
        ({"outcomes": {}}, "variants"),
    ],
)
def test_bad_declarations_name_their_field(changes: dict, field: str) -> None:
    call = {"outcomes": {"a": [0.0, 1.0], "b": [1.0, 0.0]}, "kind": "mean", "effect": 0.1}
    call |= changes
    with pytest.raises(InvalidInput) as raised:
        analyse(**call)
    assert raised.value.field == field


@pytest.mark.parametrize(
    "outcomes",
    [
        {"a": [], "b": []},
        {"a": [], "b": [1.0, 2.0, 3.0]},
        {"a": [5.0], "b": [5.0]},
        {"a": [5.0] * 50, "b": [5.0] * 50},  # constant and equal
        {"a": [0.0] * 50, "b": [1.0] * 50},  # constant and different
        {"a": [BIG, -BIG] * 20, "b": [BIG] * 40},
        {"a": [5e-324, 0.0] * 20, "b": [-5e-324] * 40},
        {"a": [1e300, 1e300 + 1e285], "b": [-1e300] * 3},
    ],
)
def test_any_finite_outcomes_give_finite_json(outcomes: dict) -> None:
    for kind in ("mean", "proportion"):
        if kind == "proportion" and not all(set(v) <= {0.0, 1.0} for v in outcomes.values()):
            continue
        result = analyse(outcomes, kind, 0.1 if kind == "proportion" else 1e-3)
        text = json.dumps(result.to_dict(), allow_nan=False)  # no NaN, no inf
        [comparison] = result.comparisons
        assert 0 <= comparison.p_value <= 1 and comparison.verdict in text


def test_constant_outcomes() -> None:
    [equal] = analyse({"a": [5.0] * 50, "b": [5.0] * 50}, "mean", 0.1).comparisons
    assert (equal.p_value, equal.needed, equal.verdict) == (1.0, None, "not enough data")
    assert "every outcome so far is 5" in equal.message
    [apart] = analyse({"a": [0.0] * 1000, "b": [1.0] * 1000}, "mean", 0.1).comparisons
    assert apart.verdict == "better" and apart.p_value < 1e-6
    [rates] = analyse({"a": [0.0] * 2000, "b": [0.0] * 2000}, "proportion", 0.05).comparisons
    assert rates.needed is not None and rates.verdict == "no significant difference"


def test_extreme_scales_agree_with_ordinary_ones() -> None:
    rng = np.random.default_rng(4)
    a, b = rng.normal(0, 1, 3000), rng.normal(0.2, 1, 3000)
    plain = analyse({"a": a, "b": b}, "mean", 0.1).comparisons[0]
    for factor in (2.0**1000, 2.0**-1000):
        scaled = analyse({"a": a * factor, "b": b * factor}, "mean", 0.1 * factor)
        [comparison] = scaled.comparisons
        assert comparison.p_value == pytest.approx(plain.p_value, rel=1e-6)
        assert comparison.needed == plain.needed and comparison.verdict == plain.verdict
        assert comparison.interval[0] / factor == pytest.approx(plain.interval[0], rel=1e-6)
    huge = analyse({"a": [BIG, -BIG] * 500, "b": [-BIG, BIG] * 500}, "mean", 1.0)
    assert huge.variants[0].variance == BIG  # capped, not inf
    assert huge.comparisons[0].needed is None and "over" in huge.comparisons[0].message


def test_many_outcomes() -> None:
    rng = np.random.default_rng(5)
    n = 2_000_000
    result = analyse({"a": rng.random(n) < 0.1, "b": rng.random(n) < 0.101}, "proportion", 0.002)
    [comparison] = result.comparisons
    assert comparison.pairs == n and comparison.needed is not None
    assert comparison.verdict in ("better", "no significant difference")
