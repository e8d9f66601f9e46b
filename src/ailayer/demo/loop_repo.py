"""The feature repository of the closed-loop demo (``ailayer up --scenario concept-drift``).

Loaded by file path as the ``feature_repo`` setting, as any repository is. Each payment
arrives with its raw fields; ``payment_signals`` turns them into the model's inputs, the
same function in training and in serving. ``fraud-retrain`` trains on the recent labelled
payments (``recent_payments.parquet`` in the tenant's offline store, rewritten by the
payments export), gates the candidate, and hands it to the ``fraud-check`` endpoint as a
canary; a drift alert on that endpoint starts it (``OnAlert``).
"""

from __future__ import annotations

import math

from ailayer.features import Feature, FeatureService, on_demand
from ailayer.pipelines import Pipeline
from ailayer.pipelines.gates import MetricThreshold, NotWorseThanChampion
from ailayer.pipelines.triggers import OnAlert

ENDPOINT = "fraud-check"
MODEL = "fraud-loop"
PIPELINE = "fraud-retrain"
RECENT = "recent_payments.parquet"
# A step here sees about a dozen requests, so its p99 is its slowest one: a scheduler pause
# on a busy laptop doubles it. The loop is judged on quality, so latency gets room.
CANARY = {"steps": [50, 100], "step_seconds": 2, "min_requests": 10, "max_p99_ratio": 5}


@on_demand(
    features=[
        Feature("log_amount", float),
        Feature("new_card", float),
        Feature("night", float),
        Feature("new_device", float),
        Feature("burst", float),
        Feature("abroad", float),
    ],
    request={
        "amount": float,
        "card_age_days": float,
        "device_new": float,
        "hour_of_day": float,
        "payments_last_24h": float,
        "foreign_country": float,
    },
)
def payment_signals(row: dict) -> dict:
    """A payment's raw fields as the model's inputs."""
    return {
        "log_amount": math.log1p(max(float(row["amount"]), 0.0)),
        "new_card": float(row["card_age_days"] < 7),
        "night": float(row["hour_of_day"] < 6),
        "new_device": float(row["device_new"]),
        "burst": float(row["payments_last_24h"]),
        "abroad": float(row["foreign_country"]),
    }


fraud_signals = FeatureService(
    "fraud_signals", [f"payment_signals:{f.name}" for f in payment_signals.features]
)


def train(X, y, params, seed):  # type: ignore[no-untyped-def]
    """A logistic regression: small, fast, and as good as the data is fresh."""
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=params["C"], max_iter=1000, random_state=seed)
    return model.fit(X.to_numpy(), y.to_numpy())


retrain = Pipeline(
    PIPELINE,
    model=MODEL,
    features="fraud_signals",
    entities=RECENT,
    label="is_fraud",
    trainer=train,
    params={"C": 1.0},
    seed=1,
    gates=[
        MetricThreshold("auc", minimum=0.9),
        NotWorseThanChampion("auc", margin=0.0),
    ],
    endpoint=ENDPOINT,
    canary=CANARY,
    compile=False,
    description="Fraud model retrained on the latest labelled payments",
    triggers=[OnAlert(kind="drift", endpoint=ENDPOINT)],
)
