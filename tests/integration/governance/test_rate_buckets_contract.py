"""The rate-bucket contract, run on every backend: in this process, and the real Redis."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator

import pytest

from ailayer.governance.ratelimit import Bucket, Buckets, LocalBuckets
from ailayer.governance.ratelimit.redis import RedisBuckets
from tests.support.online_stores import REDIS_URL, delete_prefix


@pytest.fixture(params=["local", "redis"])
def buckets(request: pytest.FixtureRequest) -> Iterator[Buckets]:
    if request.param == "local":
        yield LocalBuckets()
        return
    prefix = f"ailayer-test-rate-{uuid.uuid4().hex[:10]}:"
    yield RedisBuckets(REDIS_URL, prefix=prefix)
    delete_prefix(prefix)


def take(buckets: Buckets, *wanted: Bucket) -> list[float]:
    async def once() -> list[float]:
        try:
            return await buckets.take(wanted)
        finally:
            await buckets.aclose()

    return asyncio.run(once())


def test_a_new_bucket_gives_its_burst_then_says_how_long_to_wait(buckets: Buckets) -> None:
    bucket = Bucket("{t1}:tenant", rate=10.0, burst=3.0)

    async def burst() -> list[list[float]]:
        try:
            return [await buckets.take([bucket]) for _ in range(4)]
        finally:
            await buckets.aclose()

    waits = asyncio.run(burst())
    assert waits[:3] == [[0.0], [0.0], [0.0]]
    assert 0.0 < waits[3][0] <= 0.1  # one token at 10/s comes within 0.1 s


def test_tokens_come_back_at_the_rate(buckets: Buckets) -> None:
    bucket = Bucket("{t2}:tenant", rate=20.0, burst=1.0)
    assert take(buckets, bucket) == [0.0]
    assert take(buckets, bucket)[0] > 0
    time.sleep(0.06)  # more than the 0.05 s one token takes at 20/s
    assert take(buckets, bucket) == [0.0]


def test_take_is_all_or_nothing(buckets: Buckets) -> None:
    tenant = Bucket("{t3}:tenant", rate=0.01, burst=2.0)
    key = Bucket("{t3}:key:k1", rate=0.01, burst=1.0)
    assert take(buckets, tenant, key) == [0.0, 0.0]
    waits = take(buckets, tenant, key)  # the key is empty: the tenant keeps its token
    assert waits[0] == 0.0 and waits[1] > 0
    other_key = Bucket("{t3}:key:k2", rate=0.01, burst=1.0)
    assert take(buckets, tenant, other_key) == [0.0, 0.0]
    assert take(buckets, tenant)[0] > 0  # now the tenant's two are gone


def test_buckets_are_apart_by_key(buckets: Buckets) -> None:
    one = Bucket("{t4}:tenant", rate=0.01, burst=1.0)
    two = Bucket("{t5}:tenant", rate=0.01, burst=1.0)
    assert take(buckets, one) == [0.0]
    assert take(buckets, one)[0] > 0
    assert take(buckets, two) == [0.0]
