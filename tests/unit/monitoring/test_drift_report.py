"""Drift reports: default test choice, verdicts, dataset share, empty windows."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from ailayer.monitoring.drift import DataDriftDetector, compare, profile
from ailayer.simulate import simulate

DRIFT_START = datetime(2026, 1, 16, tzinfo=UTC)


def _frame(rng: np.random.Generator, n: int, shift: float = 0.0, plan_p=None) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "amount": rng.normal(shift, 1.0, n),
            "age": rng.normal(0.0, 1.0, n),
            "plan": rng.choice(["free", "pro", "team"], n, p=plan_p),
        }
    )


@pytest.mark.parametrize(
    ("rows", "numeric", "categorical"),
    [(1_000, "ks", "chi2"), (1_001, "wasserstein", "jensenshannon")],
)
def test_default_test_depends_on_kind_and_reference_size(rows, numeric, categorical) -> None:
    rng = np.random.default_rng(0)
    report = DataDriftDetector().fit(_frame(rng, rows)).report(_frame(rng, 500))
    assert report["amount"].method == numeric
    assert report["plan"].method == categorical
    if numeric == "ks":
        assert report["amount"].threshold == 0.05 and report["amount"].p_value is not None
    else:
        assert report["amount"].threshold == 0.1 and report["amount"].p_value is None


@pytest.mark.parametrize("rows", [800, 20_000])
def test_drifted_features_are_flagged_and_the_others_not(rows: int) -> None:
    rng = np.random.default_rng(1)
    detector = DataDriftDetector().fit(_frame(rng, rows))
    report = detector.report(_frame(rng, rows, shift=0.6, plan_p=[0.6, 0.2, 0.2]))
    assert report.drifted_features == ["amount", "plan"]
    assert report.drift_share == pytest.approx(2 / 3)
    assert report.dataset_drift is True
    same = detector.report(_frame(rng, rows))
    assert same.drifted_features == [] and same.dataset_drift is False


def test_wasserstein_is_normalized_by_the_reference_std() -> None:
    rng = np.random.default_rng(2)
    reference = {"x": rng.normal(0, 10, 5_000)}
    report = DataDriftDetector().fit(reference).report({"x": reference["x"] + 5.0})
    assert report["x"].statistic == pytest.approx(5.0 / np.std(reference["x"]))
    assert report["x"].statistics["wasserstein_raw"] == pytest.approx(5.0)


def test_empty_window_gives_a_reason_not_an_error() -> None:
    rng = np.random.default_rng(3)
    detector = DataDriftDetector().fit(_frame(rng, 2_000))
    report = detector.report(_frame(rng, 0))
    assert report.drift_share is None and report.dataset_drift is None
    assert report.reason == "the current window is empty"
    assert all(f.drifted is None for f in report.features)


def test_too_small_window_or_all_missing_feature_is_explained() -> None:
    rng = np.random.default_rng(4)
    detector = DataDriftDetector().fit(_frame(rng, 2_000))
    small = detector.report(_frame(rng, 10))
    assert "has 10 non-missing values; at least 30 are needed" in small["amount"].reason
    assert small.reason.startswith("no feature could be judged")
    window = _frame(rng, 500)
    window["age"] = np.nan
    report = detector.report(window)
    assert report["age"].drifted is None and report["age"].current_missing == 500
    assert report["amount"].drifted is False
    assert report.drift_share == 0.0  # judged over the features that could be judged


def test_prediction_drift_is_reported_apart_from_the_share() -> None:
    rng = np.random.default_rng(5)
    reference = _frame(rng, 3_000).assign(score=rng.beta(1, 9, 3_000))
    current = _frame(rng, 3_000).assign(score=rng.beta(3, 7, 3_000))
    report = DataDriftDetector(prediction="score").fit(reference).report(current)
    assert report.prediction is not None and report.prediction.drifted is True
    assert "score" not in [f.name for f in report.features]
    assert report.drift_share == 0.0


def test_learned_thresholds_follow_the_spread_of_reference_windows() -> None:
    rng = np.random.default_rng(6)
    reference = _frame(rng, 20_000)
    windows = [reference.iloc[i : i + 2_000] for i in range(0, 20_000, 2_000)]
    detector = DataDriftDetector().fit(reference).fit_thresholds(windows)
    learned = detector.thresholds_["amount"]
    seen = [
        compare(detector.reference_, profile(w, reference=detector.reference_))["amount"].statistic
        for w in windows
    ]
    assert learned.bound == pytest.approx(np.mean(seen) + 3 * np.std(seen, ddof=1))
    assert learned.bound < 0.1  # tighter than the default: a 0.2 shift is caught
    report = detector.report(_frame(rng, 2_000, shift=0.2))
    assert report["amount"].learned_threshold and report["amount"].drifted
    assert not detector.report(_frame(rng, 2_000))["age"].drifted


def test_merged_window_profiles_give_the_report_of_the_whole_window() -> None:
    rng = np.random.default_rng(7)
    detector = DataDriftDetector().fit(_frame(rng, 5_000))
    window = _frame(rng, 3_000, shift=0.3)
    parts = [detector.profile(window.iloc[i : i + 1_000]) for i in range(0, 3_000, 1_000)]
    merged = parts[0].merge(parts[1]).merge(parts[2])
    whole, pieces = detector.report(window), detector.report(merged)
    for name in ("amount", "age", "plan"):
        assert pieces[name].statistics == pytest.approx(whole[name].statistics, rel=1e-12)


def test_report_is_plain_json() -> None:
    rng = np.random.default_rng(8)
    report = DataDriftDetector().fit(_frame(rng, 2_000)).report(_frame(rng, 2_000, shift=1))
    body = json.loads(json.dumps(report.to_dict()))
    assert body["drifted_features"] == ["amount"]
    assert body["features"]["amount"]["method"] == "wasserstein"
    assert body["features"]["plan"]["psi_band"] == "stable"


def test_simulated_drift_is_found_in_the_drifted_features_only() -> None:
    data = simulate(
        seed=7,
        n_payments=40_000,
        drift_start=DRIFT_START,
        amount_shift=0.6,
        new_country_share=0.2,
    )
    payments = data.payments[["amount", "country", "hour_of_day", "card_age_days", "device_new"]]
    before = (data.payments["ts"] < DRIFT_START).to_numpy()
    detector = DataDriftDetector(categorical=["hour_of_day"]).fit(payments[before])
    report = detector.report(payments[~before])
    assert report.drifted_features == ["amount", "country"]
    assert report["device_new"].kind == "categorical"
