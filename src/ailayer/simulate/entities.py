"""Accounts and their users: the customers every payment belongs to.

Entities exist before the simulated window starts, so ``created_at`` lies in the past
and a payment never predates its user.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ailayer.simulate import catalog
from ailayer.simulate.config import SimulationConfig

DAY = 86_400
MAX_ACCOUNT_AGE_DAYS = 3 * 365
ACTIVITY_SIGMA = 0.6  # some users pay far more often than others


@dataclass(frozen=True)
class Accounts:
    """One row per account; categorical fields are indexes into ``catalog`` arrays."""

    plan: np.ndarray
    country: np.ndarray
    created_t: np.ndarray  # seconds relative to config.start (negative: in the past)
    seats: np.ndarray
    n_users: np.ndarray


@dataclass(frozen=True)
class Users:
    """One row per user; ``activity`` is the relative rate at which the user pays."""

    account: np.ndarray
    created_t: np.ndarray
    role: np.ndarray
    activity: np.ndarray


def make_accounts(rng: np.random.Generator, config: SimulationConfig) -> Accounts:
    """Draw plans, countries, ages and team sizes for ``config.n_accounts`` accounts."""
    n = config.n_accounts
    plan = rng.choice(len(catalog.PLANS), size=n, p=catalog.PLAN_SHARE)
    country = rng.choice(len(catalog.COUNTRIES), size=n, p=catalog.COUNTRY_SHARE)
    age_days = rng.uniform(1.0, MAX_ACCOUNT_AGE_DAYS, size=n)
    team = catalog.PLAN_TEAM_FACTOR[plan]
    extra_mean = (config.users_per_account - 1.0) * team / team.mean()
    n_users = 1 + rng.poisson(extra_mean)
    seats = n_users + rng.poisson(catalog.PLAN_SPARE_SEATS[plan])
    created_t = -np.round(age_days * DAY).astype(np.int64)
    return Accounts(plan, country, created_t, seats, n_users)


def make_users(rng: np.random.Generator, accounts: Accounts) -> Users:
    """Expand accounts into users: the first user of an account is its owner."""
    account = np.repeat(np.arange(len(accounts.n_users)), accounts.n_users)
    first = np.concatenate(([0], np.cumsum(accounts.n_users)[:-1]))
    is_owner = np.zeros(len(account), dtype=bool)
    is_owner[first] = True
    acc_created = accounts.created_t[account]
    joined = acc_created - np.round(rng.random(len(account)) * acc_created).astype(np.int64)
    created_t = np.where(is_owner, acc_created, joined)
    role = catalog.ROLES[rng.choice(len(catalog.ROLES), size=len(account), p=catalog.ROLE_SHARE)]
    role[is_owner] = catalog.OWNER_ROLE
    activity = rng.lognormal(0.0, ACTIVITY_SIGMA, size=len(account))
    activity *= catalog.PLAN_ACTIVITY[accounts.plan[account]]
    return Users(account, created_t, role, activity)
