"""Turn the simulator's index arrays into the DataFrames people use: ids, timestamps, names."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ailayer.simulate import catalog
from ailayer.simulate.config import SimulationConfig
from ailayer.simulate.entities import Accounts, Users

MIN_AMOUNT = 0.5
Arrays = dict[str, np.ndarray]


@dataclass
class SaaSData:
    """The simulated product's tables, plus the config that produced them.

    ``payments.is_fraud`` is the ground truth; ``labels`` is what the business learns,
    late and slightly noisy, and only for labels that arrived before the end.
    """

    accounts: pd.DataFrame
    users: pd.DataFrame
    payments: pd.DataFrame
    labels: pd.DataFrame
    config: SimulationConfig


@dataclass(frozen=True)
class _Ids:
    account: np.ndarray
    user: np.ndarray
    payment: np.ndarray


def make_ids(prefix: str, n: int, width: int) -> np.ndarray:
    """Readable, sortable ids such as ``acc_000001``."""
    return np.array([f"{prefix}{i:0{width}d}" for i in range(1, n + 1)], dtype=object)


def timestamps(config: SimulationConfig, t: np.ndarray) -> pd.DatetimeIndex:
    """UTC timestamps for integer seconds since ``config.start``."""
    origin = np.datetime64(config.start.replace(tzinfo=None), "us")
    return pd.DatetimeIndex(origin + t.astype("timedelta64[s]")).tz_localize("UTC")


def build_data(
    config: SimulationConfig, accounts: Accounts, users: Users, log: Arrays, labels: Arrays
) -> SaaSData:
    """Assemble the four tables; ids are shared so that they join."""
    ids = _Ids(
        account=make_ids("acc_", len(accounts.plan), 6),
        user=make_ids("usr_", len(users.account), 7),
        payment=make_ids("pay_", len(log["t"]), 8),
    )
    return SaaSData(
        accounts=_accounts_frame(config, accounts, ids),
        users=_users_frame(config, users, ids),
        payments=_payments_frame(config, accounts, log, ids),
        labels=_labels_frame(config, labels, ids),
        config=config,
    )


def _accounts_frame(config: SimulationConfig, accounts: Accounts, ids: _Ids) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "account_id": ids.account,
            "plan": catalog.PLANS[accounts.plan],
            "country": catalog.COUNTRIES[accounts.country],
            "created_at": timestamps(config, accounts.created_t),
            "seats": accounts.seats.astype(np.int64),
        }
    )


def _users_frame(config: SimulationConfig, users: Users, ids: _Ids) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "user_id": ids.user,
            "account_id": ids.account[users.account],
            "created_at": timestamps(config, users.created_t),
            "role": users.role,
        }
    )


def _payments_frame(
    config: SimulationConfig, accounts: Accounts, log: Arrays, ids: _Ids
) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "payment_id": ids.payment,
            "account_id": ids.account[log["account"]],
            "user_id": ids.user[log["user"]],
            "ts": timestamps(config, log["t"]),
            "amount": np.maximum(np.round(log["amount"], 2), MIN_AMOUNT),
            "currency": catalog.CURRENCIES[accounts.country[log["account"]]],
            "country": catalog.PAYMENT_COUNTRIES[log["country"]],
            "card_age_days": log["card_age_days"].astype(np.int64),
            "device_new": log["device_new"].astype(bool),
            "hour_of_day": log["hour_of_day"].astype(np.int64),
            "payments_last_24h": log["payments_last_24h"].astype(np.int64),
            "is_fraud": log["is_fraud"].astype(bool),
        }
    )


def _labels_frame(config: SimulationConfig, labels: Arrays, ids: _Ids) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "payment_id": ids.payment[labels["payment"]],
            "label": labels["label"].astype(bool),
            "label_ts": timestamps(config, labels["label_t"]),
        }
    )
