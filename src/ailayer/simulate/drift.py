"""Data drift after ``drift_start``: larger amounts and payments from a new market.

The random draws are made whatever the knobs say, so switching drift on changes
nothing before ``drift_start``. (Concept drift lives in ``fraud``, where fraudsters
change their pattern.)
"""

from __future__ import annotations

import numpy as np

from ailayer.simulate import catalog
from ailayer.simulate.config import SimulationConfig
from ailayer.simulate.timeline import drift_t


def apply_drift(
    rng: np.random.Generator, payments: dict[str, np.ndarray], config: SimulationConfig
) -> dict[str, np.ndarray]:
    """Return the payments with amounts scaled and countries moved after ``drift_start``."""
    after = payments["t"] >= drift_t(config)
    new_market = after & (rng.random(len(after)) < config.new_country_share)
    factor = np.where(after, 1.0 + config.amount_shift, 1.0)
    country = np.where(new_market, catalog.NEW_COUNTRY_INDEX, payments["country"])
    return {**payments, "amount": payments["amount"] * factor, "country": country}
