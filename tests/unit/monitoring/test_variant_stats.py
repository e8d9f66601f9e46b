"""Per-variant stats from the real prediction log: requests (not predictions), failures,
the answered requests' p99, and accuracy from labels, each variant only its own rows."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import numpy as np
import pytest

from ailayer.monitoring.log import Feedback
from ailayer.monitoring.log.variant_stats import LogVariantStats
from ailayer.rollout.policy import Variant
from ailayer.rollout.verdict import VariantStats
from tests.support.prediction_log import HOUR0
from tests.support.variant_traffic import log_request as log

STABLE = Variant("stable", "fraud", 1, 95)
CANARY = Variant("canary", "fraud", 2, 5)
START, END = HOUR0, HOUR0 + timedelta(hours=1)


def test_requests_errors_and_p99_per_variant(services) -> None:  # type: ignore[no-untyped-def]
    tenant = services.keys.create_tenant("acme")
    rng = np.random.default_rng(5)
    stable_latency = rng.gamma(2.0, 5.0, 200)
    canary_latency = rng.gamma(2.0, 9.0, 60)
    for i, latency in enumerate(stable_latency):
        log(services, tenant, STABLE, START + timedelta(seconds=10 + i), float(latency))
    log(services, tenant, STABLE, START + timedelta(minutes=30), 7.0, items=3)  # one request
    for i in range(4):
        log(services, tenant, STABLE, START + timedelta(minutes=40, seconds=i), 999.0, error="x")
    for i, latency in enumerate(canary_latency):
        log(services, tenant, CANARY, START + timedelta(seconds=20 + i), float(latency))
    log(services, tenant, CANARY, START + timedelta(minutes=50), 1.0, error="model_error: boom")
    services.prediction_log.flush()

    stats = LogVariantStats(services.prediction_log).variant_stats(
        tenant, "fraud", [STABLE, CANARY], START, END
    )

    assert set(stats) == {"stable", "canary"}
    stable, canary = stats["stable"], stats["canary"]
    assert (stable.requests, stable.errors, stable.answered) == (205, 4, 201)
    expected = np.percentile([*stable_latency, 7.0], 99)  # failed requests' latency is not in
    assert stable.p99_ms == pytest.approx(expected)
    assert (canary.requests, canary.errors) == (61, 1)
    assert canary.p99_ms == pytest.approx(np.percentile(canary_latency, 99))
    assert (canary.labelled, canary.quality, canary.quality_metric) == (0, None, "")


def test_only_the_variant_own_rows_in_the_window_count(services) -> None:  # type: ignore[no-untyped-def]
    tenant = services.keys.create_tenant("acme")
    other = services.keys.create_tenant("globex")
    inside = START + timedelta(minutes=5)
    log(services, tenant, CANARY, inside, 5.0)
    log(services, tenant, CANARY, START, 5.0)  # start is inside
    log(services, tenant, CANARY, START - timedelta(seconds=1), 5.0)
    log(services, tenant, CANARY, END, 5.0)  # end is outside
    log(services, tenant, replace(CANARY, version=3), inside, 5.0)  # a former canary
    log(services, tenant, CANARY, inside, 5.0, endpoint="churn")
    log(services, other, CANARY, inside, 5.0)
    log(services, tenant, Variant("champion", "fraud", 2, 100), inside, 5.0)
    services.prediction_log.flush()

    stats = LogVariantStats(services.prediction_log).variant_stats(
        tenant, "fraud", [STABLE, CANARY], START, END
    )

    assert stats["canary"].requests == 2
    assert stats["stable"] == VariantStats()


def test_nothing_logged_or_an_empty_window_is_all_zeros(services) -> None:  # type: ignore[no-untyped-def]
    tenant = services.keys.create_tenant("acme")
    source = LogVariantStats(services.prediction_log)
    assert source.variant_stats(tenant, "fraud", [STABLE, CANARY], START, END) == {
        "stable": VariantStats(),
        "canary": VariantStats(),
    }
    log(services, tenant, CANARY, START, 5.0)
    services.prediction_log.flush()
    assert source.variant_stats(tenant, "fraud", [CANARY], END, START)["canary"].requests == 0


def test_accuracy_from_the_latest_labels_of_each_variant(services) -> None:  # type: ignore[no-untyped-def]
    tenant = services.keys.create_tenant("acme")
    ids = {"stable": [], "canary": []}
    for variant in (STABLE, CANARY):
        for i in range(40):
            moment = START + timedelta(seconds=30 + i)
            ids[variant.name] += log(services, tenant, variant, moment, 3.0)
    services.prediction_log.flush()
    # every request predicted True (score 0.9); stable is right on 36 of 40, canary on 20
    truth = {"stable": [i >= 4 for i in range(40)], "canary": [i >= 20 for i in range(40)]}
    for name, labels in truth.items():
        services.feedback.submit(
            tenant, [Feedback(i, not t) for i, t in zip(ids[name], labels, strict=True)]
        )
        services.feedback.submit(
            tenant, [Feedback(i, t) for i, t in zip(ids[name], labels, strict=True)]
        )
    services.feedback.submit(tenant, [Feedback(ids["canary"][0], True)])  # the latest wins

    stats = LogVariantStats(services.prediction_log).variant_stats(
        tenant, "fraud", [STABLE, CANARY], START, END
    )

    assert (stats["stable"].labelled, stats["stable"].quality_metric) == (40, "accuracy")
    assert stats["stable"].quality == pytest.approx(36 / 40)
    assert stats["canary"].labelled == 40
    assert stats["canary"].quality == pytest.approx(21 / 40)
