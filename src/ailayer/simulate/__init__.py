"""Seeded, deterministic SaaS data for demos, tests and benchmarks.

``simulate()`` returns accounts, users, payments (with ground-truth fraud) and the
late, noisy labels a business actually sees; drift knobs change the world after
``drift_start`` so that monitoring has something to find. See ``docs/simulate.md``.
"""

from ailayer.simulate.config import SimulationConfig
from ailayer.simulate.features import FRAUD_FEATURES, fraud_training_frame
from ailayer.simulate.frames import SaaSData
from ailayer.simulate.generate import simulate

__all__ = [
    "FRAUD_FEATURES",
    "SaaSData",
    "SimulationConfig",
    "fraud_training_frame",
    "simulate",
]
