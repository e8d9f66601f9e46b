"""Requests of rollout variants written into the real prediction log, as the router logs
them: the variant's name in ``alias``, its model version in ``version``."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from ailayer.monitoring.log import Entry
from ailayer.rollout.policy import Variant
from tests.support.log_records import target
from tests.support.prediction_log import id_at


def log_request(  # type: ignore[no-untyped-def]
    services,
    tenant: str,
    variant: Variant,
    moment: datetime,
    latency_ms: float,
    *,
    items: int = 1,
    error: str | None = None,
    endpoint: str = "fraud",
) -> list[str]:
    """One request of ``variant`` at ``moment`` queued in the log (flush to write it);
    its prediction ids, none when it failed with ``error``. Predictions alternate
    True (score 0.9) and False (score 0.4)."""
    served = replace(target(endpoint, variant.version), alias=variant.name)
    predictions = None
    if error is None:
        predictions = [
            {"prediction_id": id_at(moment), "prediction": k % 2 == 0, "score": 0.9 - k * 0.5}
            for k in range(items)
        ]
    rows = None if error else [{"amount": 1.0}] * items
    entry = Entry(
        tenant, served, int(moment.timestamp() * 1e9), latency_ms, rows, predictions, error
    )
    assert services.prediction_log.buffer.put(entry)
    return [p["prediction_id"] for p in predictions or []]
