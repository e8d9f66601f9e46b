"""The drift statistics, computed from summaries, against SciPy on the raw rows."""

from __future__ import annotations

import warnings

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from scipy.spatial import distance

from ailayer.monitoring.drift import stats as ours
from ailayer.monitoring.drift.summary import summarize_numeric

TOLERANCE = 1e-9

samples = st.lists(
    st.one_of(st.integers(-5, 5).map(float), st.floats(-1e3, 1e3, allow_nan=False)),
    min_size=1,
    max_size=60,
)


def _pair(a: list[float], b: list[float]):
    sa, sb = summarize_numeric(a), summarize_numeric(b)
    return sa.values, sa.weights, sb.values, sb.weights


@settings(max_examples=150, deadline=None)
@given(samples, samples)
def test_ks_matches_scipy_on_small_samples(a: list[float], b: list[float]) -> None:
    statistic, p_value = ours.ks(*_pair(a, b))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "ks_2samp: Exact calculation", RuntimeWarning)
        expected = stats.ks_2samp(a, b)
    assert abs(statistic - expected.statistic) <= TOLERANCE
    assert abs(p_value - expected.pvalue) <= TOLERANCE
    assert abs(ours.ks_statistic(*_pair(a, b)) - expected.statistic) <= TOLERANCE


def test_ks_asymptotic_p_value_matches_scipy_on_large_samples() -> None:
    rng = np.random.default_rng(3)
    a, b = rng.normal(0, 1, 12_000), rng.normal(0.03, 1, 15_000)
    statistic, p_value = ours.ks(*_pair(a, b))
    expected = stats.ks_2samp(a, b)
    assert abs(statistic - expected.statistic) <= TOLERANCE
    assert abs(p_value - expected.pvalue) <= TOLERANCE


@settings(max_examples=150, deadline=None)
@given(samples, samples)
def test_wasserstein_matches_scipy(a: list[float], b: list[float]) -> None:
    expected = stats.wasserstein_distance(a, b)
    assert abs(ours.wasserstein(*_pair(a, b)) - expected) <= TOLERANCE * max(1.0, expected)


counts = st.lists(st.integers(0, 500), min_size=2, max_size=12)


@settings(max_examples=150, deadline=None)
@given(counts, st.data())
def test_jensenshannon_matches_scipy(p: list[int], data: st.DataObject) -> None:
    q = data.draw(st.lists(st.integers(0, 500), min_size=len(p), max_size=len(p)))
    if sum(p) == 0 or sum(q) == 0:
        return
    expected = distance.jensenshannon(p, q)
    assert abs(ours.jensenshannon(np.array(p), np.array(q)) - expected) <= TOLERANCE


@settings(max_examples=150, deadline=None)
@given(counts, st.data())
def test_chi2_matches_scipy_contingency(p: list[int], data: st.DataObject) -> None:
    q = data.draw(st.lists(st.integers(0, 500), min_size=len(p), max_size=len(p)))
    table = np.array([p, q])
    table = table[:, table.sum(axis=0) > 0]
    statistic, p_value = ours.chi2(np.array(p), np.array(q))
    if table.shape[1] < 2 or (table.sum(axis=1) == 0).any():
        assert (statistic, p_value) == (0.0, 1.0)
        return
    expected = stats.chi2_contingency(table, correction=False)
    assert abs(statistic - expected.statistic) <= TOLERANCE * max(1.0, expected.statistic)
    assert abs(p_value - expected.pvalue) <= TOLERANCE


def test_chi2_of_two_samples_equals_goodness_of_fit_on_the_pooled_shares() -> None:
    reference, current = np.array([50, 30, 20]), np.array([40, 40, 20])
    pooled = (reference + current) / (reference + current).sum()
    expected_ref = stats.chisquare(reference, pooled * reference.sum())
    expected_cur = stats.chisquare(current, pooled * current.sum())
    statistic, _ = ours.chi2(reference, current)
    assert abs(statistic - (expected_ref.statistic + expected_cur.statistic)) <= TOLERANCE


def _false_alarms(test, n_reference: int, n_current: int, runs: int = 300) -> float:  # type: ignore[no-untyped-def]
    """Share of p < 0.05 when both windows come from the same category shares."""
    shares = np.array([0.5, 0.3, 0.2])
    alarms = 0
    for seed in range(runs):
        rng = np.random.default_rng(seed)
        reference = rng.multinomial(n_reference, shares)
        current = rng.multinomial(n_current, shares)
        alarms += test(reference, current) < 0.05
    return alarms / runs


def _goodness_of_fit(reference: np.ndarray, current: np.ndarray) -> float:
    """Evidently's chi-square: current counts against the reference's shares as truth."""
    return float(stats.chisquare(current, reference / reference.sum() * current.sum()).pvalue)


def test_homogeneity_keeps_its_false_alarm_rate_on_a_small_reference() -> None:
    """The documented difference from Evidently: a goodness-of-fit test ignores the
    reference's own sampling noise, so with 100 reference rows against 1,000 current
    ones it flags most windows of unchanged data; the two-sample test stays near 5%."""
    homogeneity = _false_alarms(lambda r, c: ours.chi2(r, c)[1], 100, 1_000)
    fit = _false_alarms(_goodness_of_fit, 100, 1_000)
    assert 0.02 <= homogeneity <= 0.09
    assert fit >= 0.6
    assert _false_alarms(_goodness_of_fit, 50, 50) >= 0.15


def test_psi_by_hand() -> None:
    reference, current = np.array([25, 25, 50]), np.array([50, 25, 25])
    expected = (0.5 - 0.25) * np.log(0.5 / 0.25) + 0 + (0.25 - 0.5) * np.log(0.25 / 0.5)
    assert abs(ours.psi(reference, current) - expected) <= TOLERANCE
    assert ours.psi(reference, reference) == 0.0


def test_psi_counts_an_empty_bin_as_a_small_share() -> None:
    value = ours.psi(np.array([100, 0]), np.array([50, 50]))
    expected = (0.5 - 1.0) * np.log(0.5) + (0.5 - 1e-4) * np.log(0.5 / 1e-4)
    assert abs(value - expected) <= TOLERANCE
