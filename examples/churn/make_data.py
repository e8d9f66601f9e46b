"""Write the example's data to ``data/``: customers, their orders and upgrades, the feature
tables computed from them, and the labelled moments both models learn from.

Deterministic (a fixed seed and fixed dates), so every run writes the same files. The
world: a customer orders at their own rate until they churn; in the 90 days before
churning they order far less (what the churn model can see); a customer who spends more
and has more seats is likelier to upgrade (what the upsell model can see).

    python make_data.py [--customers 1000]
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

SEED = 7
DATA = Path(__file__).resolve().parent / "data"
START = pd.Timestamp(datetime(2024, 1, 1, tzinfo=UTC))
END = pd.Timestamp(datetime(2025, 7, 1, tzinfo=UTC))
DAY = pd.Timedelta(days=1)
LABEL_HORIZON = 60 * DAY  # churned / upgraded = within 60 days after the labelled moment
LABEL_DATES = pd.date_range("2024-10-31", "2025-04-30", freq="ME", tz="UTC")
CLV_MONTHS = 24  # expected remaining lifetime, in months, in the CLV formula


def customers(rng: np.random.Generator, n: int) -> pd.DataFrame:
    signup = START + pd.to_timedelta(rng.uniform(0, 240, n), unit="D")
    return pd.DataFrame(
        {
            "customer_id": np.arange(1, n + 1, dtype=np.int64),
            "signup_at": signup.floor("s"),
            "seats": rng.integers(1, 60, n).astype(np.int64),
            "orders_per_month": rng.gamma(2.0, 1.5, n),
            "avg_amount": rng.lognormal(4.0, 0.5, n),
            "churn_at": (signup + pd.to_timedelta(rng.exponential(420, n), unit="D")).floor("s"),
        }
    )


def orders(rng: np.random.Generator, people: pd.DataFrame) -> pd.DataFrame:
    """A Poisson stream per customer up to churn, thinned in the 90 days before it."""
    until = people["churn_at"].clip(upper=END)
    days = ((until - people["signup_at"]) / DAY).clip(lower=0).to_numpy()
    counts = rng.poisson(people["orders_per_month"].to_numpy() * days / 30.0)
    owner = np.repeat(np.arange(len(people)), counts)
    at = pd.DatetimeIndex(people["signup_at"])[owner] + pd.to_timedelta(
        rng.uniform(0, 1, owner.size) * days[owner], unit="D"
    )
    frame = pd.DataFrame(
        {
            "customer_id": people["customer_id"].to_numpy()[owner],
            "ordered_at": at.floor("s"),
            "amount": np.round(
                people["avg_amount"].to_numpy()[owner] * rng.lognormal(0, 0.3, owner.size), 2
            ),
        }
    )
    fading = frame["ordered_at"] > people["churn_at"].to_numpy()[owner] - 90 * DAY
    kept = ~fading | (rng.uniform(0, 1, len(frame)) < 0.3)
    return frame[kept].sort_values(["ordered_at", "customer_id"], ignore_index=True)


def upgrades(rng: np.random.Generator, people: pd.DataFrame) -> pd.DataFrame:
    """At most one upgrade per customer, likelier for big spenders with many seats."""
    spend = people["orders_per_month"] * people["avg_amount"]
    per_month = 1 / (1 + np.exp(-(-5.6 + 0.55 * np.log(spend) + 0.04 * people["seats"])))
    at = people["signup_at"] + pd.to_timedelta(rng.exponential(30 / per_month), unit="D")
    happened = (at < people["churn_at"]) & (at < END)
    return pd.DataFrame(
        {"customer_id": people["customer_id"][happened], "upgraded_at": at[happened].dt.floor("s")}
    ).reset_index(drop=True)


def snapshots(people: pd.DataFrame, history: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Month-end feature values computed from the orders up to that moment: CLV (one
    definition, both models) and recent activity (the churn model's extra signal)."""
    value, activity = [], []
    for at in pd.date_range(START, END, freq="ME", tz="UTC"):
        known = people.loc[people["signup_at"] <= at, ["customer_id"]]
        past = history[history["ordered_at"] <= at]
        recent = past[past["ordered_at"] > at - 180 * DAY]
        spend = recent.groupby("customer_id")["amount"].sum()
        count = past[past["ordered_at"] > at - 90 * DAY].groupby("customer_id").size()
        last = past.groupby("customer_id")["ordered_at"].max()
        ids = known["customer_id"]
        clv = (ids.map(spend).fillna(0.0) / 6 * CLV_MONTHS).round(2)
        value.append(pd.DataFrame({"customer_id": ids, "computed_at": at, "clv": clv}))
        since = ((at - ids.map(last)) / DAY).round(1)
        activity.append(
            pd.DataFrame(
                {
                    "customer_id": ids,
                    "computed_at": at,
                    "orders_90d": ids.map(count).fillna(0).astype(np.int64),
                    "days_since_last_order": since,
                }
            )
        )
    return pd.concat(value, ignore_index=True), pd.concat(activity, ignore_index=True)


def labels(people: pd.DataFrame, history: pd.DataFrame, ups: pd.DataFrame) -> pd.DataFrame:
    """One row per active customer (an order in the last 90 days) and month end: did they
    churn (no order) or upgrade in the next 60 days?"""
    rows = []
    upgraded_at = people["customer_id"].map(ups.set_index("customer_id")["upgraded_at"])
    for at in LABEL_DATES:
        window = history[
            (history["ordered_at"] > at) & (history["ordered_at"] <= at + LABEL_HORIZON)
        ]
        recent = history[(history["ordered_at"] > at - 90 * DAY) & (history["ordered_at"] <= at)]
        active = people["customer_id"].isin(recent["customer_id"])
        ids = people.loc[active, "customer_id"]
        soon = upgraded_at[active]
        rows.append(
            pd.DataFrame(
                {
                    "customer_id": ids,
                    "event_timestamp": at,
                    "churned": ~ids.isin(window["customer_id"]),
                    "upgraded": ((soon > at) & (soon <= at + LABEL_HORIZON)).to_numpy(),
                }
            )
        )
    return pd.concat(rows, ignore_index=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1000)
    args = parser.parse_args()
    rng = np.random.default_rng(SEED)
    people = customers(rng, args.customers)
    history = orders(rng, people)
    ups = upgrades(rng, people)
    value, activity = snapshots(people, history)
    DATA.mkdir(exist_ok=True)
    people[["customer_id", "signup_at", "seats"]].to_parquet(DATA / "customers.parquet")
    history.to_parquet(DATA / "orders.parquet")
    ups.to_parquet(DATA / "upgrades.parquet")
    value.to_parquet(DATA / "customer_value.parquet")
    activity.to_parquet(DATA / "customer_activity.parquet")
    table = labels(people, history, ups)
    table.to_parquet(DATA / "labels.parquet")
    print(
        f"wrote {DATA}: {len(people)} customers, {len(history)} orders, {len(ups)} upgrades, "
        f"{len(value)} CLV snapshots, {len(table)} labelled rows "
        f"(churn rate {table['churned'].mean():.1%}, upgrade rate {table['upgraded'].mean():.1%})"
    )


if __name__ == "__main__":
    main()
