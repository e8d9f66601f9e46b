"""Two recommenders on simulated SaaS usage, A/B tested on NDCG@10 behind one endpoint.

Run it in the churn example's folder once its features are materialized: both
recommenders read the churn example's CLV (``customer_value:clv``) at serving time, the
one definition the churn and upsell models use too.

1. Ask the feature store for every customer's CLV, and simulate which catalog items each
   customer adopts (``ailayer.simulate.usage``): customers favour one category, and
   valuable ones favour premium items. The first adoptions train; the rest are what
   each customer does next.
2. Train two recommenders on the training adoptions: ``popularity`` (what most customers
   take) and ``item-item`` (cosine similarity between items, from who took them
   together). Both tilt their lists towards premium items by the customer's CLV.
3. Register both (flavor ``recommender``, ``feature_refs=["customer_value:clv"]``) and
   deploy an A/B test at ``/v1/predict/recommendation``, sticky by customer.
4. Ask for ten items per customer (leaving out what they own and a retired item), post
   what each customer then did as feedback (clicked, purchased), and print each
   variant's NDCG@10 and the experiment's verdict.

    python ../recommendation/recommend.py [--customers 1000]
"""

from __future__ import annotations

import argparse
import os
from datetime import UTC, datetime

import numpy as np
import pandas as pd

import ailayer
from ailayer.core.settings import load_settings
from ailayer.models.flavors.recommender import dumps
from ailayer.simulate.usage import UsageConfig, catalog, usage_events

ENDPOINT = "recommendation"
MODEL = "recommender"
TRAIN_EVENTS = 5  # of each customer's 8 adoptions; the other 3 are what comes next
RETIRED_ITEM = 160  # withdrawn from the catalog: every request excludes it
CLV_WEIGHT, CLV_SCALE = 0.3, 5000.0
SIGNATURE = {
    "inputs": [
        {"name": "owned", "type": "long_list"},
        {"name": "exclude", "type": "long_list"},
        {"name": "k", "type": "long"},
        {"name": "clv", "type": "double"},  # looked up by customer_id, not sent
    ]
}
BATCH = 100
EFFECT = 0.08  # the smallest NDCG@10 difference worth finding


def connect() -> ailayer.Client:
    """The server and key the CLI would use (see the churn example's train.py)."""
    settings = load_settings()
    url = os.environ.get("AILAYER_URL", f"http://{settings.host}:{settings.port}")
    key = os.environ.get("AILAYER_API_KEY") or settings.credentials_path.read_text().strip()
    return ailayer.Client(url, key, timeout=120)


def customer_values(client: ailayer.Client, customers: np.ndarray) -> np.ndarray:
    """Each customer's CLV from the online store: the churn example's definition."""
    values = []
    for start in range(0, customers.size, BATCH):
        rows = [{"customer_id": int(c)} for c in customers[start : start + BATCH]]
        answer = client.get_online_features(["customer_value:clv"], rows)
        values += [row["clv"] for row in answer]
    return np.array(values, dtype=float)


def split(events: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per customer, the first adoptions (training) and the later ones (what happened)."""
    order = events.sort_values(["customer_id", "at"])
    rank = order.groupby("customer_id").cumcount()
    return order[rank < TRAIN_EVENTS], order[rank >= TRAIN_EVENTS]


def train(items: pd.DataFrame, seen: pd.DataFrame) -> dict[str, bytes]:
    """The two recommenders' artifacts from the training adoptions."""
    ids = items["item_id"].to_numpy()
    column = {item: i for i, item in enumerate(ids.tolist())}
    customers = {c: i for i, c in enumerate(sorted(seen["customer_id"].unique()))}
    matrix = np.zeros((len(customers), ids.size))
    for customer, item in seen[["customer_id", "item_id"]].itertuples(index=False):
        matrix[customers[customer], column[item]] = 1.0
    counts = matrix.sum(axis=0)
    popularity = counts / counts.max()
    norms = np.sqrt(counts)
    similarity = (matrix.T @ matrix) / np.maximum(np.outer(norms, norms), 1e-12)
    np.fill_diagonal(similarity, 0.0)
    common = {
        "item_value": items["premium"].to_numpy(),
        "clv_feature": "clv",
        "clv_weight": CLV_WEIGHT,
        "clv_scale": CLV_SCALE,
    }
    return {
        "popularity": dumps(ids, popularity, **common),
        "item-item": dumps(ids, popularity, similarity=similarity, popularity_weight=0.1, **common),
    }


def register(client: ailayer.Client, artifacts: dict[str, bytes]) -> dict[str, int]:
    versions = {}
    for kind, artifact in artifacts.items():
        version = client.register_model(
            MODEL,
            artifact,
            flavor="recommender",
            signature=SIGNATURE,
            feature_refs=["customer_value:clv"],
            params={"kind": kind, "clv_weight": CLV_WEIGHT},
            aliases=["champion"] if kind == "popularity" else [],
            description=f"Top-k add-ons by {kind}, tilted to premium items by CLV",
        )
        versions[kind] = version["version"]
    return versions


def deploy(client: ailayer.Client, versions: dict[str, int]) -> None:
    """Half the customers see each recommender, always the same one (sticky)."""
    client.put_endpoint(ENDPOINT, MODEL)
    variants = [
        {"name": "control", "model": MODEL, "version": versions["popularity"], "share": 50},
        {"name": "similar", "model": MODEL, "version": versions["item-item"], "share": 50},
    ]
    client.deploy(ENDPOINT, {"kind": "ab", "sticky_key": "customer_id", "variants": variants})


def recommend_and_observe(
    client: ailayer.Client, seen: pd.DataFrame, later: pd.DataFrame, premium: dict[int, float]
) -> int:
    """Ask for ten items per customer; post what each then did as feedback: a premium
    item they adopted is a purchase, any other a click. Returns the labels accepted."""
    owned = seen.groupby("customer_id")["item_id"].apply(list)
    next_items = later.groupby("customer_id")["item_id"].apply(list)
    accepted = 0
    customers = owned.index.to_numpy()
    for start in range(0, customers.size, BATCH):
        batch = customers[start : start + BATCH].tolist()
        records = [
            {"customer_id": c, "owned": owned[c], "exclude": [RETIRED_ITEM], "k": 10} for c in batch
        ]
        answer = client.predict(ENDPOINT, records)
        feedback = []
        for customer, item in zip(batch, answer["predictions"], strict=True):
            did = next_items.get(customer, [])
            label = {
                "clicked": [i for i in did if premium[i] < 0.5],
                "purchased": [i for i in did if premium[i] >= 0.5],
            }
            feedback.append({"prediction_id": item["prediction_id"], "label": label})
        accepted += client.send_feedback(feedback)["accepted"]
    return accepted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1000)
    args = parser.parse_args()
    started = datetime.now(UTC)
    client = connect()
    customers = np.arange(1, args.customers + 1)
    clv = customer_values(client, customers)
    config = UsageConfig(seed=11, clv_scale=CLV_SCALE)
    items = catalog(config).items
    seen, later = split(usage_events(customers, clv, config))
    versions = register(client, train(items, seen))
    deploy(client, versions)
    print(f"trained on {len(seen)} adoptions of {len(items)} items by {customers.size} customers")
    print(f"registered {MODEL}: " + ", ".join(f"{k} v{v}" for k, v in versions.items()))
    premium = dict(zip(items["item_id"].tolist(), items["premium"].tolist(), strict=True))
    accepted = recommend_and_observe(client, seen, later, premium)
    print(f"sent {customers.size} recommendation requests, {accepted} feedback labels")
    ranking = client.ranking(ENDPOINT, 10, start=started)
    coverage = {w["version"]: w["coverage@10"] for w in ranking["windows"]}
    result = client.experiment(ENDPOINT, "ndcg@10", EFFECT, start=started)
    for variant in result["variants"]:
        version = variant["versions"][0]["version"]
        print(
            f"{variant['name']}: v{version}, NDCG@10 {variant['mean']:.3f} over "
            f"{variant['outcomes']} recommendations, coverage@10 {coverage[version]:.2f}"
        )
    for comparison in result["comparisons"]:
        print(f"verdict: {comparison['message']} (p = {comparison['p_value']:.2g})")


if __name__ == "__main__":
    main()
