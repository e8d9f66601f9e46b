"""``simulate``: one seed in, one consistent SaaS world out.

Each stage gets its own child generator spawned from ``default_rng(seed)``, so the
stages do not disturb each other's random streams: drift knobs, for instance, leave
everything before ``drift_start`` unchanged.
"""

from __future__ import annotations

from dataclasses import fields, replace
from typing import Any

import numpy as np

from ailayer.simulate.config import SimulationConfig
from ailayer.simulate.drift import apply_drift
from ailayer.simulate.entities import make_accounts, make_users
from ailayer.simulate.frames import SaaSData, build_data
from ailayer.simulate.labels import label_arrivals
from ailayer.simulate.payments import payment_log

_STAGES = ("accounts", "users", "legit", "fraud", "drift", "labels")


def simulate(config: SimulationConfig | None = None, **knobs: Any) -> SaaSData:
    """Generate accounts, users, payments and late labels for ``config``.

    Keyword knobs build a config (``simulate(seed=1, n_payments=5_000)``) or, with a
    config, override its fields. Same knobs, same data: no global state, no clock.
    """
    config = _resolve(config, knobs)
    rng = dict(zip(_STAGES, np.random.default_rng(config.seed).spawn(len(_STAGES)), strict=True))
    accounts = make_accounts(rng["accounts"], config)
    users = make_users(rng["users"], accounts)
    log = payment_log(rng["legit"], rng["fraud"], accounts, users, config)
    log = apply_drift(rng["drift"], log, config)
    labels = label_arrivals(rng["labels"], log, config)
    return build_data(config, accounts, users, log, labels)


def _resolve(config: SimulationConfig | None, knobs: dict[str, Any]) -> SimulationConfig:
    known = {field.name for field in fields(SimulationConfig)}
    unknown = sorted(set(knobs) - known)
    if unknown:
        raise TypeError(f"unknown simulation knob(s) {unknown}; known: {sorted(known)}")
    if config is None:
        return SimulationConfig(**knobs)
    return replace(config, **knobs) if knobs else config
