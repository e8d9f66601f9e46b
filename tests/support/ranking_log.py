"""Recommendations written into the real prediction log: variants ``a`` (v1) and ``b``
(v2) of a recommender, with clicks and purchases posted through the feedback store."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np

from ailayer.monitoring import ranking
from ailayer.monitoring.log import Entry, Feedback
from tests.support.log_records import target
from tests.support.prediction_log import id_at

N = 400


def recommendation(items: list[int]) -> dict:
    return {"items": [{"item": i, "score": 1.0 / (r + 1)} for r, i in enumerate(items)]}


def log_ab(services, tenant: str, end: datetime) -> dict:  # type: ignore[no-untyped-def]
    """Variants a (v1) and b (v2) alternate; b ranks the item the person buys higher.
    Every fifth stays unlabelled; every seventh is labelled twice (the latest counts).
    ``world["shown"]`` holds every list a variant answered, labelled or not."""
    rng = np.random.default_rng(3)
    world: dict = {"a": [], "b": [], "rows": {"a": [], "b": []}, "shown": {"a": [], "b": []}}
    first, later = [], []
    start = end - timedelta(hours=1)
    for i in range(N):
        name = "ab"[i % 2]
        moment = start + timedelta(seconds=i * 3600 / N)
        bought = int(rng.integers(0, 20))
        others = [x for x in rng.permutation(20).tolist() if x != bought][:9]
        rank = int(rng.integers(0, 10 if name == "a" else 3))
        shown = [*others[:rank], bought, *others[rank:]][:10]
        item = {"prediction_id": id_at(moment), "prediction": recommendation(shown)}
        when = int(moment.timestamp() * 1e9)
        aimed = target(version=1 if name == "a" else 2, alias=name)
        services.prediction_log.buffer.put(Entry(tenant, aimed, when, 1.0, [{}], [item]))
        world["shown"][name].append(shown)
        if i % 5 == 4:
            continue
        label = {"purchased": [bought], "clicked": [others[0]]}
        if i % 7 == 0:
            first.append(Feedback(item["prediction_id"], {"clicked": [99]}))
            later.append(Feedback(item["prediction_id"], label))
        else:
            first.append(Feedback(item["prediction_id"], label))
        world["rows"][name].append((shown, ranking.grades(label)))
        world[name].append(ranking.score(shown, ranking.grades(label), 10).ndcg)
    services.prediction_log.flush()
    assert services.feedback.submit(tenant, first)["unknown"] == 0
    assert services.feedback.submit(tenant, later)["unknown"] == 0
    return world
