"""The numeric view of payments that the demo fraud model trains on."""

from __future__ import annotations

import pandas as pd

from ailayer.simulate.frames import SaaSData

FRAUD_FEATURES: tuple[str, ...] = (
    "amount",
    "card_age_days",
    "device_new",
    "hour_of_day",
    "payments_last_24h",
    "foreign_country",
)


def fraud_training_frame(data: SaaSData) -> tuple[pd.DataFrame, pd.Series]:
    """Float features in ``FRAUD_FEATURES`` order and the ground-truth ``is_fraud`` as int.

    ``foreign_country`` is 1 when the payment's country differs from its account's.
    Rows follow ``data.payments`` (same index).
    """
    payments = data.payments
    home = payments["account_id"].map(data.accounts.set_index("account_id")["country"])
    features = pd.DataFrame(
        {
            "amount": payments["amount"],
            "card_age_days": payments["card_age_days"],
            "device_new": payments["device_new"],
            "hour_of_day": payments["hour_of_day"],
            "payments_last_24h": payments["payments_last_24h"],
            "foreign_country": payments["country"] != home,
        },
        index=payments.index,
    ).astype("float64")
    return features[list(FRAUD_FEATURES)], payments["is_fraud"].astype("int64")
