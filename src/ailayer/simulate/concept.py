"""A payment stream whose fraud concept changes at a known time (the closed-loop demo).

The inputs keep their distributions throughout; only the relationship between them and
fraud changes at ``change_at``, so data-drift checks see nothing and only the labels can
tell (concept drift). Before it, fraud is a stolen card: large amounts on a new card,
from abroad, on a new device. After it, fraud is an account takeover: bursts of small
payments from a new device. Each concept is a noisy linear rule over the same inputs, so a
model retrained on fresh labels learns the new one as well as the first model knew the
old. Seeded: equal arguments give equal rows.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from ailayer.simulate.features import FRAUD_FEATURES

LABEL_NOISE = 0.02  # share of labels flipped: no model is right on every payment


def concept_change_stream(
    start: datetime,
    hours: float,
    change_at: datetime,
    *,
    per_hour: int = 2000,
    fraud_rate: float = 0.1,
    seed: int = 0,
) -> pd.DataFrame:
    """Payments from ``start`` for ``hours``, ``per_hour`` of them an hour, evenly spaced:
    ``payment_id``, ``event_timestamp``, the ``FRAUD_FEATURES`` and ``is_fraud``."""
    count = round(hours * per_hour)
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "payment_id": np.arange(1, count + 1, dtype=np.int64),
            "event_timestamp": [start + timedelta(hours=i / per_hour) for i in range(count)],
            "amount": np.round(rng.lognormal(np.log(60.0), 0.9, count), 2),
            "card_age_days": np.floor(rng.exponential(300.0, count)),
            "device_new": (rng.random(count) < 0.15).astype(float),
            "hour_of_day": rng.integers(0, 24, count).astype(float),
            "payments_last_24h": rng.poisson(3.0, count).astype(float),
            "foreign_country": (rng.random(count) < 0.1).astype(float),
        }
    )
    after = (frame["event_timestamp"] >= change_at).to_numpy()
    score = np.where(after, _takeover(frame), _stolen_card(frame))
    fraud = np.zeros(count, dtype=np.int64)
    for part in (after, ~after):  # each concept keeps the same fraud rate
        if part.any():
            cut = np.quantile(score[part], 1.0 - fraud_rate)
            fraud[part] = score[part] > cut
    flip = rng.random(count) < LABEL_NOISE
    frame["is_fraud"] = np.where(flip, 1 - fraud, fraud)
    return frame[["payment_id", "event_timestamp", *FRAUD_FEATURES, "is_fraud"]]


def _stolen_card(frame: pd.DataFrame) -> np.ndarray:
    return (
        _z(np.log1p(frame["amount"]))
        + 2.0 * (frame["card_age_days"] < 7)
        + 1.5 * frame["foreign_country"]
        + 1.0 * frame["device_new"]
    ).to_numpy()


def _takeover(frame: pd.DataFrame) -> np.ndarray:
    return (
        1.5 * _z(frame["payments_last_24h"])
        - _z(np.log1p(frame["amount"]))
        + 1.5 * frame["device_new"]
    ).to_numpy()


def _z(values: pd.Series) -> pd.Series:
    spread = float(values.std()) or 1.0
    return (values - float(values.mean())) / spread
