"""Train the demo fraud model on simulated payments, as ``ailayer up`` does on first run.

A scaled logistic regression: small, fast to train, and a fair stand-in for the models
SaaS teams put behind a fraud check. Saved with skops, never pickle.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ailayer.models.service import NewVersion

if TYPE_CHECKING:
    import pandas as pd

DEMO_MODEL = "fraud"
DEMO_SEED = 7
DEMO_PAYMENTS = 40_000
LINEAGE = re.compile(r"simulate:seed=(?P<seed>\d+):payments=(?P<payments>\d+)")

Step = Callable[[str], None]


@dataclass
class TrainedDemo:
    version: NewVersion
    example: dict[str, float]


def train_fraud_model(step: Step = lambda _: None, payments: int = DEMO_PAYMENTS) -> TrainedDemo:
    """Simulate payments, fit, evaluate; ``step`` is told as each stage starts."""
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import average_precision_score, roc_auc_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from ailayer.simulate import FRAUD_FEATURES, fraud_training_frame, simulate

    step("simulating payments")
    features, labels = fraud_training_frame(simulate(seed=DEMO_SEED, n_payments=payments))
    x_train, x_test, y_train, y_test = _split(features, labels)
    step("training")
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    model.fit(x_train.to_numpy(dtype=float), y_train)
    step("evaluating")
    scores = model.predict_proba(x_test.to_numpy(dtype=float))[:, 1]
    metrics = {
        "roc_auc": float(roc_auc_score(y_test, scores)),
        "average_precision": float(average_precision_score(y_test, scores)),
        "accuracy": float(model.score(x_test.to_numpy(dtype=float), y_test)),
    }
    signature = {
        "inputs": [{"name": name, "type": "double"} for name in FRAUD_FEATURES],
        "outputs": [{"name": "is_fraud", "type": "long"}],
    }
    version = NewVersion(
        model=DEMO_MODEL,
        flavor="sklearn",
        artifact=sio.dumps(model),
        signature=signature,
        params={"model": "LogisticRegression", "max_iter": 1000, "scaler": "StandardScaler"},
        metrics=metrics,
        tags={"source": "ailayer up demo"},
        description="Demo fraud model trained on ailayer.simulate payments",
        dataset_version=f"simulate:seed={DEMO_SEED}:payments={payments}",  # see lineage_frame
        code_version=f"ailayer.demo.fraud@{_version()}",
        aliases=["champion"],
    )
    example = dict(zip(FRAUD_FEATURES, features.iloc[0].astype(float).tolist(), strict=True))
    return TrainedDemo(version, example)


def lineage_frame(tenant_id: str, dataset_version: str) -> pd.DataFrame | None:
    """The training rows of a demo version, regenerated from its lineage string (the
    simulation is seeded), so drift has a reference right after ``ailayer up``."""
    from ailayer.simulate import fraud_training_frame, simulate

    match = LINEAGE.fullmatch(dataset_version)
    if match is None:
        return None
    seed, payments = int(match["seed"]), int(match["payments"])
    features, labels = fraud_training_frame(simulate(seed=seed, n_payments=payments))
    return _split(features, labels, seed)[0]


def _split(features: pd.DataFrame, labels: pd.Series, seed: int = DEMO_SEED) -> list:
    from sklearn.model_selection import train_test_split

    return train_test_split(
        features, labels.to_numpy(), test_size=0.25, random_state=seed, stratify=labels.to_numpy()
    )


def _version() -> str:
    from ailayer import __version__

    return __version__
