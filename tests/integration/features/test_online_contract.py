"""The online store contract, run against SQLite and the real Redis on localhost."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import redis

from ailayer.features import OnlineRow, OnlineStore, open_online_store
from ailayer.features.stores import entity_key
from ailayer.features.stores.online import Read
from ailayer.features.types import micros
from tests.support.online_stores import REDIS_URL, delete_prefix, scratch_online_store

pytestmark = pytest.mark.integration

T = datetime(2025, 6, 1, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "redis"])
def store(request: pytest.FixtureRequest, tmp_path) -> Iterator[OnlineStore]:  # type: ignore[no-untyped-def]
    with scratch_online_store(request.param, tmp_path) as made:
        yield made


def row(key: int, hours: float, value: object) -> OnlineRow:
    return OnlineRow(entity_key([key]), T + timedelta(hours=hours), {"x": value, "y": f"v{key}"})


def read(store: OnlineStore, keys: list[int], tenant: str = "t1", **kwargs) -> list:  # type: ignore[no-untyped-def]
    found = store.read_batch(tenant, "view@1", [entity_key([k]) for k in keys], ["x"], **kwargs)
    return [None if f is None else f.values["x"] for f in found]


def test_round_trip_in_order_with_missing_keys(store: OnlineStore) -> None:
    store.write_batch("t1", "view@1", [row(k, 0, k * 10) for k in range(500)])
    assert read(store, [3, 999, 1, 3]) == [30, None, 10, 30]
    found = store.read_batch("t1", "view@1", [entity_key([7])], ["x", "y", "absent"], now=T)
    assert found[0] is not None
    assert found[0].values == {"x": 70, "y": "v7"}
    assert found[0].event_us == int(T.timestamp() * 1_000_000)
    assert store.read_batch("t1", "view@1", [], ["x"]) == []


def test_delete_keys_forgets_only_those_keys_of_that_tenant_and_view(store: OnlineStore) -> None:
    for tenant, view in (("t1", "view@1"), ("t1", "other@1"), ("t2", "view@1")):
        store.write_batch(tenant, view, [row(k, 0, k) for k in (1, 2, 3)])
    assert store.delete_keys("t1", "view@1", [entity_key([2]), entity_key([9])]) == 1
    assert read(store, [1, 2, 3]) == [1, None, 3]
    assert read(store, [2], tenant="t2") == [2]
    assert store.read_batch("t1", "other@1", [entity_key([2])], ["x"])[0] is not None
    assert store.delete_keys("t1", "view@1", [entity_key([2])]) == 0
    assert store.delete_keys("t1", "view@1", []) == 0


def test_views_and_scan_list_a_tenants_namespaces_and_rows(store: OnlineStore) -> None:
    for tenant, view in (("t1", "view@1"), ("t1", "view@2"), ("t1", "pair@1"), ("t2", "own@1")):
        store.write_batch(tenant, view, [row(k, 0, k) for k in (1, 2)])
    store.write_batch("t1", "pair@1", [OnlineRow(entity_key(["a:b", 7]), T, {"x": 1})])
    assert store.views("t1") == ["pair@1", "view@1", "view@2"]
    assert store.views("t2") == ["own@1"] and store.views("t3") == []
    scanned = dict(store.scan("t1", "pair@1"))
    assert sorted(scanned) == ['["a:b",7]', "[1]", "[2]"]
    assert scanned["[1]"].values == {"x": 1, "y": "v1"}  # every feature
    assert scanned["[1]"].event_us == micros(T)
    assert list(store.scan("t1", "none@1")) == []


def test_older_writes_never_replace_newer(store: OnlineStore) -> None:
    store.write_batch("t1", "view@1", [row(1, 5, "new"), row(2, 5, "new")])
    store.write_batch("t1", "view@1", [row(1, 4, "old"), row(2, 6, "newer")])
    assert read(store, [1, 2]) == ["new", "newer"]
    store.write_batch("t1", "view@1", [row(1, 5, "same time")])  # equal time: idempotent rewrite
    assert read(store, [1]) == ["same time"]


@pytest.mark.parametrize("ttl", [None, timedelta(days=36500)])
def test_a_key_twice_in_one_batch_keeps_the_newer_row(store: OnlineStore, ttl) -> None:  # type: ignore[no-untyped-def]
    store.write_batch(
        "t1", "view@1", [row(1, 5, "b"), row(1, 4, "a"), row(2, 4, "a"), row(2, 5, "b")], ttl
    )
    assert read(store, [1, 2]) == ["b", "b"]
    many = [row(k % 3000, k / 1000, k) for k in range(9000)]  # beyond one MSET's 2,000 rows
    store.write_batch("t1", "view@1", many, ttl)
    assert read(store, [0, 1, 2999]) == [6000, 6001, 8999]


def test_write_batch_us_stores_what_write_batch_stores(store: OnlineStore) -> None:
    store.write_batch("t1", "view@1", [row(1, 1, "a")])
    at_us = micros(T + timedelta(hours=1))
    store.write_batch_us("t1", "view@2", [(entity_key([1]), at_us, {"x": "a", "y": "v1"})])
    one, two = (
        store.read_batch("t1", v, [entity_key([1])], ["x", "y"])[0] for v in ("view@1", "view@2")
    )
    assert one == two and two is not None and two.event_us == at_us
    store.write_batch_us("t1", "view@2", [(entity_key([1]), at_us - 1, {"x": "older"})])
    assert read(store, [1], tenant="t1") == ["a"]  # view@1: unchanged
    kept = store.read_batch("t1", "view@2", [entity_key([1])], ["x"])[0]
    assert kept is not None and (kept.event_us, kept.values) == (at_us, {"x": "a"})


def test_values_past_ttl_read_as_missing(store: OnlineStore) -> None:
    ttl = timedelta(hours=1)
    store.write_batch("t1", "view@1", [row(1, 0, 1)], ttl=None)
    assert read(store, [1], ttl=ttl, now=T + ttl) == [1]
    assert read(store, [1], ttl=ttl, now=T + ttl + timedelta(microseconds=1)) == [None]
    assert read(store, [1], ttl=None, now=T + timedelta(days=999)) == [1]


def test_tenants_and_views_are_separate(store: OnlineStore) -> None:
    store.write_batch("t1", "view@1", [row(1, 0, "mine")])
    assert read(store, [1], tenant="t2") == [None]
    assert store.read_batch("t1", "view@2", [entity_key([1])], ["x"]) == [None]
    store.delete_view("t1", "view@1")
    assert read(store, [1]) == [None]


def test_read_many_answers_each_read_as_read_batch_would(store: OnlineStore) -> None:
    ttl = timedelta(hours=1)
    store.write_batch("t1", "view@1", [row(1, 0, "a"), row(2, 0, "b")])
    store.write_batch("t1", "view@2", [row(1, 0, "c")])
    store.write_batch("t2", "view@1", [row(1, 0, "other tenant")])
    reads = [
        Read("t1", "view@1", [entity_key([2]), entity_key([9]), entity_key([1])], ["x"]),
        Read("t2", "view@1", [entity_key([1])], ["x", "y"]),
        Read("t1", "view@2", [entity_key([1])], ["x"], ttl=ttl, now=T + 2 * ttl),  # expired
        Read("t1", "view@1", [], ["x"]),
        Read("t1", "view@2", [entity_key([1])], ["y"], ttl=ttl, now=T),
    ]
    expected = [
        store.read_batch(r.tenant_id, r.view, r.entity_keys, r.features, r.ttl, r.now)
        for r in reads
    ]
    assert store.read_many(reads) == expected
    values = [[None if f is None else f.values for f in found] for found in expected]
    assert values == [
        [{"x": "b"}, None, {"x": "a"}],
        [{"x": "other tenant", "y": "v1"}],
        [None],
        [],
        [{"y": "v1"}],
    ]
    assert store.read_many([]) == []


def test_redis_reads_many_keys_in_one_round_trip(tmp_path) -> None:  # type: ignore[no-untyped-def]
    prefix = f"ailayer-test-{uuid.uuid4().hex[:10]}:"
    store = open_online_store(f"{REDIS_URL}?prefix={prefix}")
    try:
        now = datetime.now(UTC)
        rows = [OnlineRow(entity_key([k]), now, {"x": k}) for k in range(2000)]
        store.write_batch("t1", "view@1", rows, ttl=timedelta(hours=1))
        calls: list[tuple] = []
        original = store.client.execute_command  # type: ignore[attr-defined]
        store.client.execute_command = lambda *a, **k: calls.append(a) or original(*a, **k)  # type: ignore[attr-defined]
        assert [
            f.values["x"]
            for f in store.read_batch("t1", "view@1", [r.entity_key for r in rows], ["x"])
        ] == list(range(2000))  # type: ignore[union-attr]
        assert [c[0] for c in calls] == ["MGET"]
        calls.clear()
        reads = [Read("t1", "view@1", [r.entity_key], ["x"]) for r in rows[:50]]
        assert [found[0].values["x"] for found in store.read_many(reads)] == list(range(50))  # type: ignore[union-attr]
        assert [c[0] for c in calls] == ["MGET"]  # fifty reads, one round trip
        plain = redis.Redis.from_url(REDIS_URL)
        ttl_ms = plain.pttl(f"{prefix}t1:view@1:[5]")
        plain.close()
        assert 0 < ttl_ms <= 3_600_000  # Redis forgets rows once their TTL has passed
    finally:
        store.close()
        delete_prefix(prefix)
