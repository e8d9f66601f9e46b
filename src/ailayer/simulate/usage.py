"""Seeded SaaS usage events: which catalog items (add-ons, integrations, templates) each
customer adopts, and in what order — the implicit feedback recommenders learn from.

The world, so that a recommender has something to find:
- each item belongs to one of ``n_categories`` and has a popularity (a Zipf-like weight)
  and a ``premium`` level in [0, 1] (a paid add-on is near 1);
- each customer has a favourite category, whose items they adopt ``affinity`` times as
  readily as others' — what item-item similarity can learn and popularity cannot;
- a customer's lifetime value tilts them towards premium items: the weight of item i is
  ``popularity_i * (affinity if favourite) * (1 + premium_pull * tilt * premium_i)``
  with ``tilt = min(clv / clv_scale, 1)`` — what a CLV feature at serving time can use.

Each customer adopts ``events_per_customer`` distinct items, drawn in sequence without
replacement from those weights; ``at`` orders them, so the first ones train and the
later ones are what happened next.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

START = datetime(2025, 7, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Catalog:
    """The items: id, category, popularity weight and premium level, one row each."""

    items: pd.DataFrame  # item_id, category, popularity, premium


@dataclass(frozen=True)
class UsageConfig:
    seed: int = 0
    n_items: int = 60
    n_categories: int = 6
    events_per_customer: int = 8
    affinity: float = 8.0
    premium_pull: float = 3.0
    clv_scale: float = 5000.0

    def __post_init__(self) -> None:
        if self.n_items < 1 or self.n_categories < 1 or self.n_categories > self.n_items:
            raise ValueError("need 1 <= n_categories <= n_items")
        if not 1 <= self.events_per_customer <= self.n_items:
            raise ValueError("events_per_customer must be from 1 to n_items")
        if self.affinity < 1 or self.premium_pull < 0 or self.clv_scale <= 0:
            raise ValueError("affinity must be >= 1, premium_pull >= 0, clv_scale > 0")


def catalog(config: UsageConfig) -> Catalog:
    """The item catalog of ``config`` (ids from 101), the same for the same seed."""
    rng = np.random.default_rng([config.seed, 1])
    n = config.n_items
    items = pd.DataFrame(
        {
            "item_id": np.arange(101, 101 + n, dtype=np.int64),
            "category": np.arange(n) % config.n_categories,
            "popularity": 1.0 / np.arange(1, n + 1) ** 0.6,
            "premium": np.round(rng.beta(0.6, 0.9, n), 3),
        }
    )
    shuffled = rng.permutation(n)  # popularity is not tied to id or category
    items["popularity"] = items["popularity"].to_numpy()[shuffled]
    return Catalog(items)


def usage_events(
    customer_ids: np.ndarray, clv: np.ndarray, config: UsageConfig | None = None
) -> pd.DataFrame:
    """One row per adoption: customer_id, item_id, at (UTC), in adoption order."""
    config = config or UsageConfig()
    customer_ids = np.asarray(customer_ids, dtype=np.int64)
    clv = np.asarray(clv, dtype=float)
    if customer_ids.shape != clv.shape:
        raise ValueError("customer_ids and clv must have the same length")
    items = catalog(config).items
    rng = np.random.default_rng([config.seed, 2])
    favourite = rng.integers(0, config.n_categories, customer_ids.size)
    tilt = np.clip(clv / config.clv_scale, 0.0, 1.0)
    rows = []
    for position, customer in enumerate(customer_ids.tolist()):
        weights = items["popularity"].to_numpy() * np.where(
            items["category"].to_numpy() == favourite[position], config.affinity, 1.0
        )
        weights = weights * (1 + config.premium_pull * tilt[position] * items["premium"])
        chosen = rng.choice(
            items["item_id"].to_numpy(),
            size=config.events_per_customer,
            replace=False,
            p=weights / weights.sum(),
        )
        days = np.sort(rng.uniform(0, 180, config.events_per_customer))
        rows += [
            (customer, int(item), START + timedelta(days=float(day)))
            for item, day in zip(chosen, days, strict=True)
        ]
    return pd.DataFrame(rows, columns=["customer_id", "item_id", "at"])
