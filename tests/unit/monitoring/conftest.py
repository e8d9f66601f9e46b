"""Fixtures of the monitoring tests: the shop model registered, with drifted traffic."""

from __future__ import annotations

import pytest

from tests.support.drift_scenario import predict, rows, shop_model


@pytest.fixture
def shop(api):  # type: ignore[no-untyped-def]
    model = shop_model()
    assert api.register("shop", model, aliases=["champion"]).status_code == 201
    return model


@pytest.fixture
def live(api, shop):  # type: ignore[no-untyped-def]
    """A reference of 2,000 rows stored; 1,500 drifted rows of traffic logged."""
    reference = rows(2000, seed=2)
    api.services.drift.references.put(api.tenant_id, "shop", 1, reference)
    current = rows(1500, seed=3, drift=True)
    scores = predict(api, current)
    api.services.prediction_log.flush()
    return reference, current, scores
