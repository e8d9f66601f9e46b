"""How ordinary customers pay: at office hours, with old cards, from home, moderate amounts.

Its helpers are also the baseline that fraud episodes deviate from (or, after a
pattern shift, imitate).
"""

from __future__ import annotations

import numpy as np

from ailayer.simulate import catalog
from ailayer.simulate.config import SimulationConfig
from ailayer.simulate.entities import Accounts, Users
from ailayer.simulate.timeline import sample_times

AMOUNT_SIGMA = 0.7
NEW_CARD_SHARE = 0.05  # customers do add new cards now and then
NEW_DEVICE_SHARE = 0.04
TRAVEL_SHARE = 0.03  # paying from abroad


def plan_amounts(rng: np.random.Generator, plan: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """Log-normal amounts around each plan's median, times ``scale``."""
    median = catalog.PLAN_MEDIAN_AMOUNT[plan] * scale
    return median * rng.lognormal(0.0, AMOUNT_SIGMA, size=len(plan))


def card_age_days(rng: np.random.Generator, n: int) -> np.ndarray:
    """Age of the card used: mostly months or years, sometimes a card added this month."""
    new = rng.random(n) < NEW_CARD_SHARE
    recent = rng.integers(0, 30, size=n)
    settled = np.round(rng.gamma(2.0, 200.0, size=n)).astype(np.int64) + 30
    return np.where(new, recent, settled)


def payment_country(rng: np.random.Generator, home: np.ndarray, abroad: np.ndarray) -> np.ndarray:
    """The account's country, or a different known country where ``abroad`` is set."""
    n_countries = len(catalog.COUNTRIES)
    other = (home + rng.integers(1, n_countries, size=len(home))) % n_countries
    return np.where(abroad, other, home)


def legit_payments(
    rng: np.random.Generator, n: int, accounts: Accounts, users: Users, config: SimulationConfig
) -> dict[str, np.ndarray]:
    """``n`` honest payments by users chosen in proportion to their activity."""
    user = rng.choice(len(users.account), size=n, p=users.activity / users.activity.sum())
    account = users.account[user]
    t = sample_times(rng, n, catalog.LEGIT_HOURS, config)
    return {
        "user": user,
        "t": t,
        "amount": plan_amounts(rng, accounts.plan[account]),
        "card_age_days": card_age_days(rng, n),
        "device_new": rng.random(n) < NEW_DEVICE_SHARE,
        "country": payment_country(rng, accounts.country[account], rng.random(n) < TRAVEL_SHARE),
        "is_fraud": np.zeros(n, dtype=bool),
    }
