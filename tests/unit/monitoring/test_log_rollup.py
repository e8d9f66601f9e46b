"""The log rollup: its windows equal the raw log's numbers, a rerun adds nothing twice,
and each tenant reads only its own rows."""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from ailayer.bootstrap import build
from ailayer.monitoring.log.rollup import (
    BUCKET_SECONDS,
    GRACE,
    LogRollup,
    bin_upper_ms,
    latency_bin,
    quantile_ms,
)
from ailayer.rollout.policy import Variant
from tests.support.prediction_log import HOUR0
from tests.support.variant_traffic import log_request as log

STABLE = Variant("stable", "fraud", 1, 95)
CANARY = Variant("canary", "fraud", 2, 5)
START, END = HOUR0, HOUR0 + timedelta(hours=1)


def later() -> datetime:
    """A pass's clock past the grace period of every part written so far."""
    return datetime.now(UTC) + GRACE + timedelta(seconds=1)


def seed(services, tenant: str, rng: np.random.Generator) -> None:  # type: ignore[no-untyped-def]
    for i, latency in enumerate(rng.gamma(2.0, 5.0, 300)):
        log(
            services,
            tenant,
            STABLE,
            START + timedelta(seconds=7 * i),
            float(latency),
            items=1 + i % 3,
        )
    for i, latency in enumerate(rng.gamma(2.0, 9.0, 80)):
        log(services, tenant, CANARY, START + timedelta(seconds=20 * i), float(latency))
    for i in range(5):
        log(services, tenant, STABLE, START + timedelta(minutes=41, seconds=i), 999.0, error="x")
    services.prediction_log.flush()


@pytest.fixture
def both(make_settings, metadata_url):  # type: ignore[no-untyped-def]
    """Services on SQLite and on PostgreSQL."""
    built = build(make_settings(metadata_url=metadata_url))
    yield built
    built.close()


def test_windows_equal_the_raw_log(both) -> None:  # type: ignore[no-untyped-def]
    services = both
    tenant = services.keys.create_tenant("acme")
    seed(services, tenant, np.random.default_rng(3))
    rollup = LogRollup(services.db, services.offline.tenant_root)
    rollup.run_tenant(tenant, later())

    raw = services.prediction_log.query(tenant, "fraud", START, END, as_pandas=True)
    windows = rollup.windows(tenant, START, END, by=("alias", "version"))
    assert set(windows) == {("stable", 1), ("canary", 2)}
    for (alias, _), window in windows.items():
        rows = raw[raw.alias == alias]
        answered = rows[(rows.request_row == 0) & rows.error.isna()]
        assert window.requests == int((rows.request_row == 0).sum())
        assert window.errors == int(rows.error.notna().sum())
        assert window.predictions == int(rows.error.isna().sum())
        assert window.answered == len(answered)
        assert window.latency_sum == pytest.approx(answered.latency_ms.sum())
        assert window.scores == int(rows.score.notna().sum())
        assert window.score_sum == pytest.approx(rows.score.sum())
        assert window.histogram == dict(Counter(latency_bin(v) for v in answered.latency_ms))
        exact = float(np.sort(answered.latency_ms)[int(np.ceil(0.99 * len(answered))) - 1])
        assert exact <= window.p99_ms <= exact * 2 ** (1 / 8) + 1e-9
    stable = windows[("stable", 1)]
    assert (stable.requests, stable.errors) == (305, 5)

    per_step = rollup.series(tenant, START, END, step_seconds=600, endpoint="fraud")[()]
    assert sum(w.requests for _, w in per_step) == 305 + 80
    assert all(at.timestamp() % 600 == 0 for at, _ in per_step)
    raw_per_step = Counter(int(t.timestamp()) // 600 * 600 for t in raw[raw.request_row == 0].time)
    assert {int(at.timestamp()): w.requests for at, w in per_step} == raw_per_step


def test_a_rerun_and_a_late_part_apply_nothing_twice(services) -> None:  # type: ignore[no-untyped-def]
    tenant = services.keys.create_tenant("acme")
    log(services, tenant, STABLE, START + timedelta(minutes=1), 5.0)
    services.prediction_log.flush()
    waiting = LogRollup(services.db, services.offline.tenant_root)
    assert waiting.run_tenant(tenant).parts == 0  # younger than the grace period
    rollup = LogRollup(services.db, services.offline.tenant_root, grace=timedelta(0))
    time.sleep(0.005)
    first, again = rollup.run_tenant(tenant), rollup.run_tenant(tenant)
    assert (first.parts, again.parts) == (1, 0)
    assert rollup.windows(tenant, START, END)[("fraud",)].requests == 1

    # a part written later with rows of the same bucket (e.g. replayed from a journal)
    log(services, tenant, STABLE, START + timedelta(minutes=2), 7.0)
    services.prediction_log.flush()
    time.sleep(0.005)
    assert rollup.run_tenant(tenant).parts == 1
    assert rollup.run_tenant(tenant).parts == 0
    window = rollup.windows(tenant, START, END)[("fraud",)]
    assert (window.requests, window.latency_sum) == (2, 12.0)
    assert window.histogram == {latency_bin(5.0): 1, latency_bin(7.0): 1}


def test_a_second_replica_with_a_stale_mark_applies_nothing(services) -> None:  # type: ignore[no-untyped-def]
    tenant = services.keys.create_tenant("acme")
    log(services, tenant, STABLE, START, 5.0)
    services.prediction_log.flush()
    one = LogRollup(services.db, services.offline.tenant_root)
    two = LogRollup(services.db, services.offline.tenant_root)
    one.run_tenant(tenant, later())
    with services.db.write() as conn:  # the other replica read the mark before it moved
        assert not two._move_mark(conn, tenant, 0, 10**15, datetime.now(UTC))
    assert one.windows(tenant, START, END)[("fraud",)].requests == 1


def test_a_tenant_reads_only_its_own_rows(services) -> None:  # type: ignore[no-untyped-def]
    acme = services.keys.create_tenant("acme")
    globex = services.keys.create_tenant("globex")
    log(services, acme, STABLE, START, 5.0)
    for _ in range(3):
        log(services, globex, STABLE, START, 5.0)
    services.prediction_log.flush()
    rollup = LogRollup(services.db, services.offline.tenant_root)
    rollup.run_once(later())
    assert rollup.windows(acme, START, END)[("fraud",)].requests == 1
    assert rollup.windows(globex, START, END)[("fraud",)].requests == 3
    assert rollup.windows(acme, START, END, endpoint="churn") == {}


def test_buckets_are_aligned_and_quantiles_read_from_the_histogram() -> None:
    assert BUCKET_SECONDS == 300
    assert quantile_ms({}, 0.99) is None
    assert quantile_ms({3: 99, 40: 1}, 0.99) == bin_upper_ms(3)
    assert quantile_ms({3: 98, 40: 2}, 0.99) == bin_upper_ms(40)
    assert latency_bin(-1.0) == 0 and latency_bin(float("inf")) == latency_bin(1e300)
    for value in (0.02, 1.0, 13.7, 950.0):
        assert bin_upper_ms(latency_bin(value) - 1) <= value < bin_upper_ms(latency_bin(value))


def test_live_windows_add_the_parts_written_since_the_mark(services) -> None:  # type: ignore[no-untyped-def]
    tenant = services.keys.create_tenant("acme")
    log(services, tenant, STABLE, START + timedelta(minutes=1), 5.0)
    services.prediction_log.flush()
    rollup = LogRollup(services.db, services.offline.tenant_root, grace=timedelta(0))
    assert rollup.live_windows(tenant, START, END)[("fraud",)].requests == 1  # before a pass
    time.sleep(0.005)
    rollup.run_tenant(tenant)
    log(services, tenant, STABLE, START + timedelta(minutes=3), 7.0)
    log(services, tenant, CANARY, START + timedelta(minutes=3), 7.0, endpoint="churn")
    services.prediction_log.flush()
    assert rollup.windows(tenant, START, END)[("fraud",)].requests == 1
    live = rollup.live_windows(tenant, START, END, endpoint="fraud")
    assert set(live) == {("fraud",)}
    assert (live[("fraud",)].requests, live[("fraud",)].latency_sum) == (2, 12.0)
    assert rollup.live_windows(tenant, END, END + timedelta(hours=1)) == {}
