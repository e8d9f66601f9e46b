"""Materialization on both metadata databases and both online stores, including a crash."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from ailayer.features import (
    FeatureRegistry,
    Materializer,
    OfflineStore,
    OnlineStore,
    Progress,
)
from ailayer.features.stores import entity_key
from tests.support.feature_repo import REPO, database, ts, write_merchant_risk
from tests.support.online_stores import scratch_online_store

pytestmark = pytest.mark.integration


class Crash(Exception):
    pass


@pytest.fixture(params=["sqlite", "redis"])
def online(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OnlineStore]:
    with scratch_online_store(request.param, tmp_path) as made:
        yield made


@pytest.fixture
def setup(metadata_url: str, online: OnlineStore, tmp_path: Path):  # type: ignore[no-untyped-def]
    db, tenant = database(metadata_url)
    registry = FeatureRegistry(db)
    registry.apply(tenant, "alice", REPO)
    offline = OfflineStore(f"file://{tmp_path / 'offline'}", db, registry, REPO)
    rng = random.Random(7)
    rows = [(f"m{i:03d}", rng.randint(0, 10), rng.random()) for i in range(50) for _ in range(3)]
    write_merchant_risk(offline.tenant_root(tenant), rows)
    materializer = Materializer(db, registry, offline, online, batch_size=7, clock=lambda: ts(12))
    yield materializer, tenant, rows
    db.dispose()


def latest(rows: list[tuple[str, float, float]]) -> dict[str, float]:
    """Expected online value per merchant: the row with the latest time (later row on ties)."""
    best: dict[str, tuple[float, int, float]] = {}
    for index, (merchant, hours, risk) in enumerate(rows):
        if merchant not in best or (hours, index) >= best[merchant][:2]:
            best[merchant] = (hours, index, risk)
    return {m: v[2] for m, v in best.items()}


def online_values(
    materializer: Materializer, tenant: str, merchants: list[str]
) -> dict[str, float | None]:
    found = materializer.online.read_batch(
        tenant, "merchant_risk@1", [entity_key([m]) for m in merchants], ["risk"]
    )
    return {
        m: None if f is None else f.values["risk"] for m, f in zip(merchants, found, strict=True)
    }


def test_a_crashed_run_resumes_without_loss_or_rework(setup) -> None:  # type: ignore[no-untyped-def]
    materializer, tenant, rows = setup
    seen: list[Progress] = []

    def crash_after_three(progress: Progress) -> None:
        seen.append(progress)
        if len(seen) == 3:
            raise Crash

    with pytest.raises(Crash):
        materializer.materialize(
            tenant, ["merchant_risk"], ts(-1), ts(10), progress=crash_after_three
        )
    assert [(p.rows_done, p.rows_total) for p in seen] == [(7, 50), (14, 50), (21, 50)]
    assert materializer.watermarks(tenant) == {"merchant_risk@1": None}

    written: list[int] = []
    write_batch = materializer.online.write_batch

    def counting(tenant_id, view, batch, ttl=None):  # type: ignore[no-untyped-def]
        written.append(len(batch))
        return write_batch(tenant_id, view, batch, ttl)

    materializer.online.write_batch = counting  # type: ignore[method-assign]
    [run] = materializer.materialize(tenant, ["merchant_risk"], ts(-1), ts(10))
    assert run.resumed and run.rows == 50
    assert sum(written) == 50 - 21  # the three durable batches are not written again

    expected = latest(rows)
    assert online_values(materializer, tenant, sorted(expected)) == expected
    assert materializer.watermarks(tenant) == {"merchant_risk@1": ts(10)}


def test_incremental_moves_from_the_watermark_and_keeps_newer_values(setup) -> None:  # type: ignore[no-untyped-def]
    materializer, tenant, rows = setup
    with pytest.raises(Crash):
        materializer.incremental(
            tenant, ["merchant_risk"], end=ts(10), progress=lambda p: (_ for _ in ()).throw(Crash())
        )
    [finished] = materializer.incremental(tenant, ["merchant_risk"], end=ts(10))
    assert finished.resumed and finished.rows == 50

    later = [
        *rows,
        ("m000", 20, 0.123),
        ("m001", 0, 0.999),
        ("new", 15, 0.5),
    ]  # m001's is late and old
    write_merchant_risk(materializer.offline.tenant_root(tenant), later)
    [run] = materializer.incremental(tenant, ["merchant_risk"], end=ts(30))
    at_watermark = {m for m, hours, _ in rows if hours == 10}  # the start is inclusive
    assert (run.start, run.end, run.rows) == (ts(10), ts(30), 2 + len(at_watermark - {"m000"}))
    values = online_values(materializer, tenant, ["m000", "m001", "new"])
    assert values == {"m000": 0.123, "m001": latest(rows)["m001"], "new": 0.5}
    assert materializer.watermarks(tenant) == {"merchant_risk@1": ts(30)}
    assert materializer.incremental(tenant, ["merchant_risk"], end=ts(30)) == []
