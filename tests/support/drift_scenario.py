"""The shop scenario of the drift tests: a real scikit-learn pipeline over numbers, a
category and a boolean; its customers, with or without drift; traffic through the API.

One feature name is an HTML ``<script>``: every page and table that shows feature names
must keep it text."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tests.support.services import TinyModel

EVIL = "<script>alert('x')</script>"
NUMERIC = ("amount", "age", "tenure", EVIL)
CATEGORICAL = ("plan", "mobile")
SIGNATURE = {
    "inputs": [
        {"name": "amount", "type": "double"},
        {"name": "age", "type": "double"},
        {"name": "tenure", "type": "long"},
        {"name": EVIL, "type": "double"},
        {"name": "plan", "type": "string"},
        {"name": "mobile", "type": "boolean"},
    ]
}
PLANS = ("free", "pro", "team")


def rows(n: int, seed: int, *, drift: bool = False) -> pd.DataFrame:
    """Customers; with ``drift`` the amount shifts up and the plan mix changes."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "amount": rng.normal(140 if drift else 100, 20, n).round(2),
            "age": rng.uniform(18, 80, n).round(1),
            "tenure": rng.integers(0, 60, n),
            EVIL: rng.normal(0, 1, n).round(3),
            "plan": rng.choice(PLANS, n, p=[0.2, 0.3, 0.5] if drift else [0.5, 0.3, 0.2]),
            "mobile": rng.random(n) < 0.4,
        }
    )


def shop_model() -> TinyModel:
    """A real pipeline over numbers, a category and a boolean (one-hot encoded)."""
    import skops.io as sio
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    frame = rows(800, seed=1)
    y = (frame["amount"] > 105) | (frame["plan"] == "team")
    estimator = make_pipeline(
        ColumnTransformer(
            [("num", "passthrough", [0, 1, 2, 3]), ("cat", OneHotEncoder(), [4, 5])],
        ),
        LogisticRegression(max_iter=1000),
    )
    estimator.fit(frame.to_numpy(dtype=object), y)
    return TinyModel(sio.dumps(estimator), SIGNATURE, estimator)


def records(frame: pd.DataFrame) -> list[dict]:
    return frame.to_dict("records")


def predict(api, frame: pd.DataFrame, endpoint: str = "shop") -> list[float]:  # type: ignore[no-untyped-def]
    response = api.client.post(
        f"/v1/predict/{endpoint}", headers=api.headers("service"), json=records(frame)
    )
    assert response.status_code == 200, response.text
    return [p["score"] for p in response.json()["predictions"]]


def scores_of(model: TinyModel, frame: pd.DataFrame) -> np.ndarray:
    return model.estimator.predict_proba(frame.to_numpy(dtype=object))[:, 1]  # type: ignore[attr-defined]
