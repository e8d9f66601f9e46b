"""Train the churn and the upsell model on point-in-time features, and register both.

Each model asks the server for a training set from its feature service: for every labelled
(customer, month end) row, the feature values as they were at that moment, never later
ones. Both services take CLV from the one ``customer_value`` view. Each registered version
records the service it is served with (``feature_refs``) and the dataset version it was
trained on (``dataset_version``), so a prediction needs only a ``customer_id``.

    python train.py          # with `ailayer up` running; reads ailayer.yaml like the CLI
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import skops.io as sio
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import ailayer
from ailayer.core.settings import load_settings

LABELS = Path(__file__).resolve().parent / "data" / "labels.parquet"
TYPES = {"clv": "double", "days_since_last_order": "double", "orders_90d": "long", "seats": "long"}


@dataclass(frozen=True)
class Model:
    name: str  # the model, its feature service and its endpoint share this name
    label: str
    inputs: tuple[str, ...]  # the service's features, in the order the model reads them


MODELS = (
    Model("churn", "churned", ("clv", "orders_90d", "days_since_last_order")),
    Model("upsell", "upgraded", ("clv", "seats", "orders_90d")),
)


def connect() -> ailayer.Client:
    """The server and key the CLI would use: AILAYER_URL / AILAYER_API_KEY, or the
    settings' host and port and the key `ailayer up` wrote."""
    settings = load_settings()
    url = os.environ.get("AILAYER_URL", f"http://{settings.host}:{settings.port}")
    key = os.environ.get("AILAYER_API_KEY") or settings.credentials_path.read_text().strip()
    return ailayer.Client(url, key, timeout=120)


def train(client: ailayer.Client, model: Model, labels: pd.DataFrame) -> dict:
    entities = labels[["customer_id", "event_timestamp", model.label]]
    frame, dataset = client.get_training_set(model.name, entities)
    holdout = frame["event_timestamp"] == frame["event_timestamp"].max()  # the latest month
    x, y = frame[list(model.inputs)].to_numpy(dtype=float), frame[model.label].to_numpy()
    estimator = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    estimator.fit(x[~holdout], y[~holdout])
    auc = roc_auc_score(y[holdout], estimator.predict_proba(x[holdout])[:, 1])
    estimator.fit(x, y)  # the registered model learns from every month
    version = client.register_model(
        model.name,
        sio.dumps(estimator),
        flavor="sklearn",
        signature={"inputs": [{"name": n, "type": TYPES[n]} for n in model.inputs]},
        feature_refs=[model.name],
        dataset_version=dataset["id"],
        metrics={"holdout_roc_auc": round(float(auc), 4)},
        aliases=["champion"],
        description=f"Predicts {model.label} within 60 days from the {model.name} features",
    )
    print(
        f"{model.name}: v{version['version']} trained on {dataset['row_count']} rows "
        f"(dataset {dataset['id']}), holdout ROC AUC {auc:.3f}"
    )
    return version


def main() -> None:
    labels = pd.read_parquet(LABELS)
    with connect() as client:
        for model in MODELS:
            train(client, model, labels)
        customer = {"customer_id": 42}
        for model in MODELS:
            answer = client.predict(model.name, customer, explain_features=True)
            [item] = answer["predictions"]
            print(
                f"customer 42, {model.name}: score {item['score']:.3f}, features {item['features']}"
            )


if __name__ == "__main__":
    main()
