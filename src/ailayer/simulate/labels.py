"""Labels arrive late: a payment's outcome is known only days after it happened.

Fraud is learnt from chargebacks, so a ``True`` label is a chargeback; ``False`` means
the payment was confirmed good. As in real life labels are not perfect: a few frauds
are never disputed and a few honest payments are charged back ("friendly fraud").
Only labels that arrived by the end of the simulation are kept.
"""

from __future__ import annotations

import numpy as np

from ailayer.simulate.config import SimulationConfig
from ailayer.simulate.timeline import DAY, span

DELAY_SHAPE = 2.0  # gamma shape: few labels arrive at once, some take weeks
MISSED_FRAUD_SHARE = 0.05
FRIENDLY_FRAUD_SHARE = 0.001


def label_arrivals(
    rng: np.random.Generator, payments: dict[str, np.ndarray], config: SimulationConfig
) -> dict[str, np.ndarray]:
    """Arrived labels as arrays: ``payment`` (row index), ``label``, ``label_t``; by arrival."""
    n = len(payments["t"])
    scale = config.label_delay_days / DELAY_SHAPE
    delay = np.round(rng.gamma(DELAY_SHAPE, scale, size=n) * DAY).astype(np.int64)
    missed = rng.random(n) < MISSED_FRAUD_SHARE
    friendly = rng.random(n) < FRIENDLY_FRAUD_SHARE
    label = np.where(payments["is_fraud"], ~missed, friendly)
    label_t = payments["t"] + delay
    arrived = np.flatnonzero(label_t <= span(config))
    arrived = arrived[np.argsort(label_t[arrived], kind="stable")]
    return {"payment": arrived, "label": label[arrived], "label_t": label_t[arrived]}
