"""Summaries: merging windows, the sketch beyond the exact limit, storage."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from ailayer.monitoring.drift import Profile, profile, summarize_numeric
from ailayer.monitoring.drift import summary as summary_module
from ailayer.monitoring.drift.methods import statistics

values = st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=80)


@settings(max_examples=100, deadline=None)
@given(values, values)
def test_merging_two_windows_equals_summarizing_their_union(a: list[float], b: list[float]):
    edges = np.array([-10.0, 0.0, 10.0])
    merged = summarize_numeric(a, edges).merge(summarize_numeric(b, edges))
    union = summarize_numeric(a + b, edges)
    np.testing.assert_array_equal(merged.values, union.values)
    np.testing.assert_array_equal(merged.weights, union.weights)
    np.testing.assert_array_equal(merged.hist, union.hist)
    assert merged.count == union.count == len(a) + len(b)
    assert merged.mean == pytest.approx(union.mean, rel=1e-9, abs=1e-6)
    assert merged.std == pytest.approx(np.std(a + b), rel=1e-9, abs=1e-6)


def test_missing_values_are_counted_apart() -> None:
    summary = summarize_numeric([1.0, np.nan, 3.0, np.nan])
    assert (summary.count, summary.missing) == (2, 2)
    assert summary.hist.sum() == 2


def test_reference_bins_are_deciles_and_windows_reuse_them() -> None:
    rng = np.random.default_rng(0)
    reference = profile({"x": rng.normal(size=10_000)})
    window = profile({"x": rng.normal(size=500)}, reference=reference)
    ref_x, win_x = reference.features["x"], window.features["x"]
    assert len(ref_x.edges) == 9
    np.testing.assert_array_equal(ref_x.edges, win_x.edges)
    assert ref_x.hist.tolist() == [1000] * 10
    np.testing.assert_array_equal(
        ref_x.edges, np.quantile(ref_x.values, np.arange(1, 10) / 10, method="inverted_cdf")
    )


def test_discrete_features_get_fewer_bins_not_empty_ones() -> None:
    summary = summarize_numeric(np.repeat([0.0, 1.0], [900, 100]))
    assert summary.edges.tolist() == [0.0]
    assert summary.hist.tolist() == [900, 100]


def test_beyond_the_exact_limit_a_sketch_keeps_the_mean_and_is_close(monkeypatch) -> None:
    monkeypatch.setattr(summary_module, "EXACT_LIMIT", 5_000)
    monkeypatch.setattr(summary_module, "SKETCH_SIZE", 1_000)
    rng = np.random.default_rng(1)
    a, b = rng.lognormal(0, 1, 40_000), rng.lognormal(0.05, 1, 30_000)
    sa = summarize_numeric(a)
    sb = summarize_numeric(b, sa.edges)
    assert not sa.exact and len(sa.values) == 1_000
    assert sa.mean == pytest.approx(a.mean(), rel=1e-12)
    assert float(np.average(sa.values, weights=sa.weights)) == pytest.approx(a.mean(), rel=1e-9)
    found = statistics(sa, sb, ks_p_value=False)
    assert found["wasserstein_raw"] == pytest.approx(stats.wasserstein_distance(a, b), abs=0.01)
    assert found["ks"] == pytest.approx(stats.ks_2samp(a, b).statistic, abs=2e-3)


def test_sketches_merge_and_stay_bounded(monkeypatch) -> None:
    monkeypatch.setattr(summary_module, "EXACT_LIMIT", 2_000)
    monkeypatch.setattr(summary_module, "SKETCH_SIZE", 500)
    rng = np.random.default_rng(2)
    parts = [rng.normal(size=3_000) for _ in range(8)]
    merged = summarize_numeric(parts[0])
    for part in parts[1:]:
        merged = merged.merge(summarize_numeric(part, merged.edges))
    rows = np.concatenate(parts)
    assert len(merged.values) <= 2_000 and merged.count == len(rows)
    assert merged.std == pytest.approx(rows.std(), rel=1e-9)
    median = merged.quantiles(np.array([0.5]))[0]
    assert abs(stats.percentileofscore(rows, median) - 50) < 1.0


def test_categorical_counts_merge() -> None:
    reference = profile({"plan": ["free", "pro", "free", None]})
    window = profile({"plan": pd.Series(["pro", "team"], dtype="category")}, reference=reference)
    merged = reference.merge(window)
    assert merged.features["plan"].counts == {"free": 2, "pro": 2, "team": 1}
    assert merged.features["plan"].missing == 1
    assert merged.rows == 6


def test_kinds_come_from_dtypes_or_are_declared() -> None:
    frame = pd.DataFrame(
        {"amount": [1.0, 2.0], "plan": ["a", "b"], "flag": [True, False], "code": [1, 2]}
    )
    kinds = {n: s.kind for n, s in profile(frame, categorical=["code"]).features.items()}
    assert kinds == {
        "amount": "numeric",
        "plan": "categorical",
        "flag": "categorical",
        "code": "categorical",
    }


def test_profiles_round_trip_through_bytes_without_pickle() -> None:
    rng = np.random.default_rng(3)
    original = profile({"x": rng.normal(size=300), "c": rng.choice(["a", "b"], 300)})
    restored = Profile.from_bytes(original.to_bytes())
    assert restored.rows == 300
    np.testing.assert_array_equal(restored.features["x"].values, original.features["x"].values)
    assert restored.features["x"].std == original.features["x"].std
    assert restored.features["c"].counts == original.features["c"].counts


def test_merging_windows_with_different_bins_is_refused() -> None:
    with pytest.raises(ValueError, match="different edges"):
        summarize_numeric([1.0, 2.0, 3.0]).merge(summarize_numeric([5.0, 9.0, 11.0]))


def test_a_non_numeric_value_in_a_numeric_feature_names_the_field() -> None:
    from ailayer.core.errors import InvalidInput

    reference = profile({"amount": [1.0, 2.0]})
    with pytest.raises(InvalidInput) as caught:
        profile({"amount": ["x", "y"]}, reference=reference)
    assert caught.value.field == "amount"
