"""The payment log: honest and fraudulent payments merged in time order, with the
per-user burst count that fraud models rely on."""

from __future__ import annotations

import numpy as np

from ailayer.simulate.config import SimulationConfig
from ailayer.simulate.entities import Accounts, Users
from ailayer.simulate.fraud import fraud_payments
from ailayer.simulate.legit import legit_payments
from ailayer.simulate.timeline import DAY, count_previous, hour_of_day, span


def payment_log(
    rng_legit: np.random.Generator,
    rng_fraud: np.random.Generator,
    accounts: Accounts,
    users: Users,
    config: SimulationConfig,
) -> dict[str, np.ndarray]:
    """All ``config.n_payments`` payments as arrays, sorted by time (ties stay stable)."""
    n_fraud = int(rng_fraud.binomial(config.n_payments, config.fraud_rate))
    legit = legit_payments(rng_legit, config.n_payments - n_fraud, accounts, users, config)
    fraud = fraud_payments(rng_fraud, n_fraud, accounts, users, config)
    order = np.argsort(np.concatenate([legit["t"], fraud["t"]]), kind="stable")
    log = {key: np.concatenate([legit[key], fraud[key]])[order] for key in legit}
    log["account"] = users.account[log["user"]]
    log["hour_of_day"] = hour_of_day(log["t"], config)
    log["payments_last_24h"] = count_previous(log["user"], log["t"], DAY, span(config))
    return log
