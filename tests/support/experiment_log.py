"""An A/B experiment written into the real prediction log: variants ``a`` and ``b`` with
known outcomes, labelled through the feedback store."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np

from ailayer.monitoring.log import Entry, Feedback
from tests.support.log_records import target
from tests.support.prediction_log import id_at

N = 1200


def log_variants(services, tenant: str, end: datetime, n: int = N) -> dict:  # type: ignore[no-untyped-def]
    """n one-row predictions alternating a (v1) and b (v2) in the hour before ``end``;
    b converts more often. 80% are labelled (every tenth first wrongly, then corrected);
    a few failed requests that never count."""
    rng = np.random.default_rng(7)
    start = end - timedelta(hours=1)
    world: dict = {"a": [], "b": [], "a_amount": [], "b_amount": [], "a_hit": [], "b_hit": []}
    first, correction = [], []
    for i in range(n):
        name = "ab"[i % 2]
        moment = start + timedelta(seconds=i * 3600 / n)
        predicted = bool(rng.random() < 0.5)
        item = {"prediction_id": id_at(moment), "prediction": predicted, "score": 0.7}
        when = int(moment.timestamp() * 1e9)
        version = 1 if name == "a" else 2
        aimed = target(version=version, alias=name)
        services.prediction_log.buffer.put(
            Entry(tenant, aimed, when, 1.0, [{"amount": 1.0}], [item])
        )
        if i % 50 == 0:
            failed = Entry(tenant, aimed, when, 1.0, None, None, "model_error", None)
            services.prediction_log.buffer.put(failed)
        if rng.random() >= 0.8:
            continue
        converted = bool(rng.random() < (0.3 if name == "a" else 0.5))
        world[name].append(float(converted))
        world[f"{name}_hit"].append(float(converted == predicted))
        if i % 10 == 0:
            first.append(Feedback(item["prediction_id"], not converted))
            correction.append(Feedback(item["prediction_id"], converted))
        else:
            first.append(Feedback(item["prediction_id"], converted))
    services.prediction_log.flush()
    assert services.feedback.submit(tenant, first)["unknown"] == 0
    assert services.feedback.submit(tenant, correction)["unknown"] == 0
    return {key: np.array(values) for key, values in world.items()}
