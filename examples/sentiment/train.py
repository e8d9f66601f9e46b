"""Train the review sentiment model from reviews.csv and register it as ``champion``.

A TF-IDF + logistic regression pipeline. The predict path hands a scikit-learn model a
2-D matrix (one column per signature input), so the text column reaches the vectorizer
through a ``ColumnTransformer`` that selects column 0 as 1-D strings. Saved with skops:
only scikit-learn and NumPy classes, which the server trusts.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import skops.io as sio
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

import ailayer
from ailayer.core.settings import load_settings

HERE = Path(__file__).resolve().parent
SIGNATURE = {
    "inputs": [{"name": "text", "type": "string"}],
    "outputs": [{"name": "positive", "type": "long"}],
}


def connect() -> ailayer.Client:
    """The server and key the CLI would use (AILAYER_URL / AILAYER_API_KEY or settings)."""
    settings = load_settings()
    url = os.environ.get("AILAYER_URL", f"http://{settings.host}:{settings.port}")
    key = os.environ.get("AILAYER_API_KEY") or settings.credentials_path.read_text().strip()
    return ailayer.Client(url, key, timeout=60)


def fit(reviews: pd.DataFrame):  # type: ignore[no-untyped-def]
    text = ColumnTransformer([("text", TfidfVectorizer(ngram_range=(1, 2)), 0)])
    model = make_pipeline(text, LogisticRegression(max_iter=1000))
    return model.fit(reviews[["text"]].to_numpy(dtype=object), reviews["positive"])


def main() -> None:
    reviews = pd.read_csv(HERE / "reviews.csv")
    holdout = reviews.index % 5 == 0
    model = fit(reviews[~holdout])
    accuracy = model.score(reviews.loc[holdout, ["text"]].to_numpy(dtype=object),
                           reviews.loc[holdout, "positive"])  # fmt: skip
    with connect() as client:
        version = client.register_model(
            "sentiment", sio.dumps(fit(reviews)), flavor="sklearn", signature=SIGNATURE,
            metrics={"holdout_accuracy": accuracy}, aliases=["champion"],
        )  # fmt: skip
    print(f"sentiment: v{version['version']} holdout accuracy {accuracy:.2f} (champion)")


if __name__ == "__main__":
    main()
