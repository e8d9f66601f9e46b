"""Two replicas' limiters on the real Redis share a tenant's bucket."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from ailayer.core.errors import RateLimited
from ailayer.core.limits import Limits
from ailayer.governance.principal import Principal
from ailayer.governance.ratelimit import RateLimiter
from ailayer.governance.ratelimit.redis import RedisBuckets
from ailayer.governance.roles import Role
from tests.support.online_stores import REDIS_URL, delete_prefix

CALLER = Principal("t-1", "acme", "k-1", "ci", "ak_1", Role.SERVICE)


def test_replicas_take_from_one_bucket() -> None:
    prefix = f"ailayer-test-rate-{uuid.uuid4().hex[:10]}:"
    limits = Limits(rate_per_second=0.01, burst=2)
    replicas = [RateLimiter(limits, RedisBuckets(REDIS_URL, prefix=prefix)) for _ in range(2)]

    async def three_requests() -> None:
        try:
            await replicas[0].check(CALLER)
            await replicas[1].check(CALLER)
            with pytest.raises(RateLimited):
                await replicas[0].check(CALLER)  # the other replica took the second token
            assert all(r.status() == {"store": "redis"} for r in replicas)
        finally:
            for replica in replicas:
                await replica.aclose()

    try:
        asyncio.run(three_requests())
    finally:
        delete_prefix(prefix)
