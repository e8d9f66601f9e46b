"""A home with the tiny fraud model behind the ``fraud`` endpoint, and an input file to
score, for the ``ailayer score`` tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from ailayer.bootstrap import build
from ailayer.core.settings import load_settings
from ailayer.models.service import NewVersion
from tests.support.services import TinyModel, tiny_sklearn_model


@dataclass
class Scoring:
    home: Path
    key: str
    model: TinyModel


def scoring_home(home: Path) -> Scoring:
    """``fraud`` v1 (champion) registered in ``home``'s stores, and a predict key."""
    services = build(load_settings(home=home))
    try:
        tenant = services.keys.create_tenant("acme")
        key = services.keys.create_key(tenant, "scorer", "admin").key
        model = tiny_sklearn_model()
        new = NewVersion("fraud", "sklearn", model.artifact, model.signature, aliases=["champion"])
        services.registry.register(tenant, "test", new)
    finally:
        services.close()
    return Scoring(home, key, model)


def payments(rows: int, seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    return pa.table(
        {
            "id": pa.array(np.arange(rows, dtype=np.int64)),
            "amount": pa.array(rng.uniform(0, 1000, rows)),
            "card_age_days": pa.array(rng.integers(0, 365, rows)),
            "note": pa.array([f"row {i}" for i in range(rows)]),
        }
    )
