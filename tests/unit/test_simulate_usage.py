"""Simulated usage events: deterministic, distinct items per customer, and the two
effects recommenders are meant to find (category affinity, the CLV pull to premium)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ailayer.simulate.usage import UsageConfig, catalog, usage_events


def test_same_config_same_events_and_distinct_items() -> None:
    config = UsageConfig(seed=5, n_items=20, n_categories=4, events_per_customer=6)
    customers, clv = np.arange(1, 51), np.zeros(50)
    first = usage_events(customers, clv, config)
    pd.testing.assert_frame_equal(first, usage_events(customers, clv, config))
    assert not first.equals(usage_events(customers, clv, UsageConfig(seed=6, n_items=20)))
    per_customer = first.groupby("customer_id")
    assert per_customer["item_id"].nunique().eq(6).all()
    assert per_customer["at"].apply(lambda t: t.is_monotonic_increasing).all()
    assert set(first["item_id"]) <= set(catalog(config).items["item_id"])


def test_customers_favour_one_category_and_valuable_ones_premium_items() -> None:
    config = UsageConfig(seed=1)
    items = catalog(config).items.set_index("item_id")
    customers = np.arange(1, 1001)
    clv = np.where(customers % 2 == 0, 10_000.0, 0.0)
    events = usage_events(customers, clv, config)
    events["category"] = items.loc[events["item_id"], "category"].to_numpy()
    events["premium"] = items.loc[events["item_id"], "premium"].to_numpy()
    top_share = events.groupby("customer_id")["category"].agg(
        lambda c: c.value_counts().iloc[0] / len(c)
    )
    assert top_share.mean() > 0.5  # six categories: 1/6 without affinity
    valuable = events["customer_id"] % 2 == 0
    assert events.loc[valuable, "premium"].mean() > events.loc[~valuable, "premium"].mean() + 0.05


def test_bad_knobs_are_refused() -> None:
    for knobs in ({"n_items": 0}, {"n_categories": 70}, {"events_per_customer": 61}):
        with pytest.raises(ValueError):
            UsageConfig(**knobs)
    with pytest.raises(ValueError):
        usage_events(np.arange(3), np.zeros(2))
