"""The concept-change stream: inputs keep their distributions, the fraud rule changes at the
known time, a model of the old rule fails on the new one and a model of fresh labels does
not; equal arguments give equal rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from ailayer.simulate.concept import concept_change_stream
from ailayer.simulate.features import FRAUD_FEATURES

START = datetime(2026, 3, 2, tzinfo=UTC)
CHANGE = START + timedelta(hours=1)


def stream(seed: int = 3) -> pd.DataFrame:
    return concept_change_stream(START, 2, CHANGE, per_hour=2000, fraud_rate=0.15, seed=seed)


def test_rows_are_seeded_ordered_and_keep_their_fraud_rate() -> None:
    rows = stream()
    pd.testing.assert_frame_equal(rows, stream())
    assert not rows.equals(stream(seed=4))
    assert list(rows.columns) == ["payment_id", "event_timestamp", *FRAUD_FEATURES, "is_fraud"]
    assert len(rows) == 4000 and rows["event_timestamp"].is_monotonic_increasing
    after = rows["event_timestamp"] >= CHANGE
    assert after.sum() == 2000
    for part in (rows[~after], rows[after]):
        assert abs(part["is_fraud"].mean() - 0.15) < 0.03


def test_only_the_concept_changes() -> None:
    rows = stream()
    after = rows["event_timestamp"] >= CHANGE
    for name in FRAUD_FEATURES:  # the inputs look the same on both sides
        a, b = rows.loc[~after, name], rows.loc[after, name]
        assert abs(a.mean() - b.mean()) <= 0.15 * max(a.std(), 1e-9), name
    x = rows[list(FRAUD_FEATURES)].to_numpy()
    x = np.column_stack([np.log1p(x[:, 0]), x[:, 1:]])
    y = rows["is_fraud"].to_numpy()
    before_idx, after_idx = np.where(~after)[0], np.where(after)[0]
    old = LogisticRegression(max_iter=2000).fit(x[before_idx[:1500]], y[before_idx[:1500]])
    fresh = LogisticRegression(max_iter=2000).fit(x[after_idx[:1500]], y[after_idx[:1500]])
    held_before, held_after = before_idx[1500:], after_idx[1500:]
    old_before = (old.predict(x[held_before]) == y[held_before]).mean()
    old_after = (old.predict(x[held_after]) == y[held_after]).mean()
    fresh_after = (fresh.predict(x[held_after]) == y[held_after]).mean()
    assert old_after < old_before - 0.1  # the old rule no longer holds
    assert fresh_after > old_after + 0.1  # and the new one is learnable
