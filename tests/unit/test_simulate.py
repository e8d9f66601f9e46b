"""Tests for ailayer.simulate: shape, determinism, fraud signal, labels and drift."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from ailayer.simulate import (
    FRAUD_FEATURES,
    SaaSData,
    SimulationConfig,
    fraud_training_frame,
    simulate,
)

DRIFT_START = datetime(2026, 1, 16, 7, 30, tzinfo=UTC)
PAYMENT_COLUMNS = [
    "payment_id",
    "account_id",
    "user_id",
    "ts",
    "amount",
    "currency",
    "country",
    "card_age_days",
    "device_new",
    "hour_of_day",
    "payments_last_24h",
    "is_fraud",
]


@pytest.fixture(scope="module")
def data() -> SaaSData:
    return simulate()


def _model():
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))


def _split_at(data: SaaSData, when: datetime) -> tuple[np.ndarray, np.ndarray]:
    before = (data.payments["ts"] < when).to_numpy()
    return before, ~before


# --- shape and consistency ---------------------------------------------------------------


def test_tables_have_the_documented_columns(data: SaaSData) -> None:
    assert list(data.accounts.columns) == ["account_id", "plan", "country", "created_at", "seats"]
    assert list(data.users.columns) == ["user_id", "account_id", "created_at", "role"]
    assert list(data.payments.columns) == PAYMENT_COLUMNS
    assert list(data.labels.columns) == ["payment_id", "label", "label_ts"]
    assert data.payments["device_new"].dtype == bool
    assert data.payments["is_fraud"].dtype == bool
    assert data.labels["label"].dtype == bool
    assert str(data.payments["ts"].dt.tz) == "UTC"


def test_sizes_follow_the_config(data: SaaSData) -> None:
    assert len(data.accounts) == 200
    assert len(data.payments) == 20_000
    assert 4.0 < len(data.users) / len(data.accounts) < 6.0
    assert set(data.accounts["plan"]) == {"free", "starter", "pro", "enterprise"}
    assert data.payments["payment_id"].is_unique
    assert data.users["user_id"].is_unique


def test_tables_join_and_respect_time(data: SaaSData) -> None:
    config = data.config
    payments, users, accounts = data.payments, data.users, data.accounts
    owner = payments["user_id"].map(users.set_index("user_id")["account_id"])
    assert (owner == payments["account_id"]).all()
    assert payments["ts"].is_monotonic_increasing
    assert payments["ts"].min() >= config.start
    assert payments["ts"].max() < config.end
    assert (users["created_at"] < config.start).all()
    joined = users["account_id"].map(accounts.set_index("account_id")["created_at"])
    assert (users["created_at"] >= joined).all()
    team = users.groupby("account_id").size()
    assert (accounts.set_index("account_id")["seats"] >= team).all()
    assert (users.groupby("account_id")["role"].apply(lambda r: (r == "owner").sum()) == 1).all()


def test_hour_of_day_matches_timestamp_even_for_odd_start() -> None:
    start = datetime(2026, 3, 1, 13, 45, 10, tzinfo=timezone(timedelta(hours=2)))
    data = simulate(start=start, days=3, n_payments=3_000)
    payments = data.payments
    assert data.config.start == start and data.config.start.tzinfo == UTC
    assert (payments["hour_of_day"] == payments["ts"].dt.hour).all()
    assert payments["ts"].min() >= start
    assert payments["ts"].max() < start + timedelta(days=3)


def test_payments_last_24h_counts_the_users_previous_day() -> None:
    payments = simulate(n_accounts=10, n_payments=1_200, days=4, seed=4).payments
    expected = []
    for position, row in enumerate(payments.itertuples()):
        earlier = payments.iloc[:position]
        same_user = earlier["user_id"] == row.user_id
        recent = earlier["ts"] > row.ts - pd.Timedelta(hours=24)
        expected.append(int((same_user & recent).sum()))
    assert payments["payments_last_24h"].tolist() == expected


def test_degenerate_configs_still_work() -> None:
    assert simulate(n_payments=0).payments.empty
    assert simulate(n_payments=0).labels.empty
    assert not simulate(n_payments=500, fraud_rate=0.0).payments["is_fraud"].any()
    assert simulate(n_payments=500, fraud_rate=1.0).payments["is_fraud"].all()
    single = simulate(n_accounts=1, users_per_account=1.0, n_payments=5)
    assert len(single.users) == 1 and len(single.payments) == 5
    assert len(simulate(n_payments=500, label_delay_days=0.0).labels) == 500


# --- determinism -------------------------------------------------------------------------


def test_same_seed_gives_identical_frames() -> None:
    config = SimulationConfig(seed=7, n_payments=5_000)
    first, second = simulate(config), simulate(config)
    for name in ("accounts", "users", "payments", "labels"):
        pd.testing.assert_frame_equal(getattr(first, name), getattr(second, name))


def test_different_seed_gives_different_data() -> None:
    first, second = simulate(seed=1, n_payments=5_000), simulate(seed=2, n_payments=5_000)
    assert not first.payments["amount"].equals(second.payments["amount"])
    assert not first.accounts["plan"].equals(second.accounts["plan"])


def test_knobs_override_a_config() -> None:
    config = SimulationConfig(seed=5, n_payments=1_000)
    data = simulate(config, n_payments=300)
    assert len(data.payments) == 300 and data.config.seed == 5
    assert config.n_payments == 1_000
    with pytest.raises(TypeError, match="n_paymentz"):
        simulate(n_paymentz=10)


# --- fraud -------------------------------------------------------------------------------


def test_fraud_rate_is_close_to_the_knob(data: SaaSData) -> None:
    assert data.payments["is_fraud"].mean() == pytest.approx(0.02, abs=0.004)
    assert simulate(n_payments=20_000, fraud_rate=0.1).payments["is_fraud"].mean() == (
        pytest.approx(0.1, abs=0.01)
    )


def test_fraud_training_frame_shape(data: SaaSData) -> None:
    features, label = fraud_training_frame(data)
    assert tuple(features.columns) == FRAUD_FEATURES
    assert (features.dtypes == "float64").all()
    assert label.dtype == "int64" and label.name == "is_fraud"
    assert len(features) == len(label) == len(data.payments)
    home = data.payments["account_id"].map(data.accounts.set_index("account_id")["country"])
    expected = (data.payments["country"] != home).astype(float)
    pd.testing.assert_series_equal(features["foreign_country"], expected, check_names=False)
    assert set(features["device_new"].unique()) <= {0.0, 1.0}


def test_fraud_is_more_likely_on_each_risk_signal(data: SaaSData) -> None:
    features, label = fraud_training_frame(data)
    risky = {
        "high amount": features["amount"] > features["amount"].quantile(0.9),
        "new card": features["card_age_days"] <= 7,
        "new device": features["device_new"] == 1,
        "night": features["hour_of_day"] < 6,
        "burst": features["payments_last_24h"] >= 5,
        "foreign": features["foreign_country"] == 1,
    }
    for name, mask in risky.items():
        assert label[mask].mean() > 2 * label[~mask].mean(), name


def test_logistic_regression_learns_fraud(data: SaaSData) -> None:
    features, label = fraud_training_frame(data)
    x_train, x_test, y_train, y_test = train_test_split(
        features, label, test_size=0.3, random_state=0, stratify=label
    )
    model = _model().fit(x_train, y_train)
    assert roc_auc_score(y_test, model.predict_proba(x_test)[:, 1]) > 0.88


# --- labels ------------------------------------------------------------------------------


def test_labels_arrive_late_and_within_the_window(data: SaaSData) -> None:
    labels = data.labels.merge(data.payments[["payment_id", "ts", "is_fraud"]], on="payment_id")
    assert len(labels) == len(data.labels) and data.labels["payment_id"].is_unique
    assert (labels["label_ts"] >= labels["ts"]).all()
    assert (labels["label_ts"] <= data.config.end).all()
    assert labels["label_ts"].is_monotonic_increasing
    assert (labels["label"] == labels["is_fraud"]).mean() > 0.99
    assert labels.loc[labels["is_fraud"], "label"].mean() > 0.9
    mean_delay = (labels["label_ts"] - labels["ts"]).mean()
    assert pd.Timedelta(days=4) < mean_delay < pd.Timedelta(days=7)  # long delays cut off
    late = data.payments["ts"] > data.config.end - timedelta(days=2)
    assert data.payments.loc[late, "payment_id"].isin(data.labels["payment_id"]).mean() < 0.3


def test_longer_label_delay_means_fewer_labels() -> None:
    quick = simulate(n_payments=5_000, label_delay_days=1.0)
    slow = simulate(n_payments=5_000, label_delay_days=20.0)
    assert len(slow.labels) < len(quick.labels)


# --- drift -------------------------------------------------------------------------------


def test_drift_never_touches_data_before_drift_start() -> None:
    plain = simulate(seed=3)
    drifted = simulate(
        seed=3,
        drift_start=DRIFT_START,
        amount_shift=0.5,
        new_country_share=0.2,
        fraud_pattern_shift=True,
    )
    pd.testing.assert_frame_equal(plain.accounts, drifted.accounts)
    pd.testing.assert_frame_equal(plain.users, drifted.users)
    before, _ = _split_at(plain, DRIFT_START)
    assert before.sum() == (drifted.payments["ts"] < DRIFT_START).sum()
    pd.testing.assert_frame_equal(plain.payments[before], drifted.payments[before])


def test_amount_shift_scales_amounts_after_drift_start() -> None:
    plain = simulate(seed=3)
    drifted = simulate(seed=3, drift_start=DRIFT_START, amount_shift=0.5)
    before, after = _split_at(drifted, DRIFT_START)
    amount = drifted.payments["amount"]
    assert amount[after].mean() / amount[before].mean() == pytest.approx(1.5, abs=0.1)
    exact = amount[after].mean() / plain.payments["amount"][after].mean()
    assert exact == pytest.approx(1.5, rel=1e-3)


def test_new_country_appears_only_after_drift_start() -> None:
    data = simulate(seed=3, drift_start=DRIFT_START, new_country_share=0.1)
    before, after = _split_at(data, DRIFT_START)
    countries = data.payments["country"]
    unseen = set(countries[after]) - set(countries[before]) - set(data.accounts["country"])
    assert len(unseen) == 1
    share = countries[after].isin(unseen).mean()
    assert share == pytest.approx(0.1, abs=0.02)


def test_fraud_pattern_shift_breaks_a_model_trained_before_drift() -> None:
    def auc_after_drift(shift: bool) -> tuple[float, float]:
        data = simulate(n_payments=40_000, drift_start=DRIFT_START, fraud_pattern_shift=shift)
        features, label = fraud_training_frame(data)
        before, after = _split_at(data, DRIFT_START)
        old = _model().fit(features[before], label[before])
        fresh = _model().fit(features[after], label[after])
        score_old = roc_auc_score(label[after], old.predict_proba(features[after])[:, 1])
        score_fresh = roc_auc_score(label[after], fresh.predict_proba(features[after])[:, 1])
        return score_old, score_fresh

    stable_old, _ = auc_after_drift(False)
    shifted_old, shifted_fresh = auc_after_drift(True)
    assert stable_old > 0.88
    assert shifted_old < stable_old - 0.1
    assert shifted_fresh > shifted_old + 0.1  # the new pattern is learnable again


# --- config validation -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("knobs", "field"),
    [
        ({"seed": -1}, "seed"),
        ({"seed": 1.5}, "seed"),
        ({"n_accounts": 0}, "n_accounts"),
        ({"n_payments": -1}, "n_payments"),
        ({"n_payments": True}, "n_payments"),
        ({"users_per_account": 0.5}, "users_per_account"),
        ({"days": 0}, "days"),
        ({"fraud_rate": 1.5}, "fraud_rate"),
        ({"fraud_rate": float("nan")}, "fraud_rate"),
        ({"label_delay_days": -1.0}, "label_delay_days"),
        ({"start": datetime(2026, 1, 1)}, "start"),
        ({"start": "2026-01-01"}, "start"),
        ({"amount_shift": -1.0, "drift_start": DRIFT_START}, "amount_shift"),
        ({"new_country_share": 1.2, "drift_start": DRIFT_START}, "new_country_share"),
        ({"fraud_pattern_shift": 1, "drift_start": DRIFT_START}, "fraud_pattern_shift"),
        ({"amount_shift": 0.5}, "drift_start"),
        ({"drift_start": datetime(2025, 12, 31, tzinfo=UTC)}, "drift_start"),
        ({"drift_start": datetime(2026, 1, 31, tzinfo=UTC)}, "drift_start"),
    ],
)
def test_bad_knobs_raise_value_error_naming_the_field(knobs: dict, field: str) -> None:
    with pytest.raises(ValueError, match=f"^{field}: expected"):
        SimulationConfig(**knobs)


def test_config_is_frozen() -> None:
    config = SimulationConfig()
    with pytest.raises(AttributeError):
        config.seed = 1  # type: ignore[misc]
    assert config.end == datetime(2026, 1, 31, tzinfo=UTC)
