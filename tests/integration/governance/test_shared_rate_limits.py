"""Two replicas' limiters on the real Redis share a tenant's bucket, the predict fast path's
early refusal included."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from fastapi.testclient import TestClient

from ailayer.api.app import create_app
from ailayer.bootstrap import build
from ailayer.core.errors import RateLimited
from ailayer.core.limits import Limits
from ailayer.governance.principal import Principal
from ailayer.governance.ratelimit import RateLimiter
from ailayer.governance.ratelimit.redis import RedisBuckets
from ailayer.governance.roles import Role
from tests.support.api import make_api
from tests.support.asgi_calls import call
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


def test_the_predict_fast_path_refuses_early_from_the_shared_bucket(
    make_settings, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    limits = {"rate_per_second": 0.01, "burst": 2, "store": REDIS_URL}
    services = build(make_settings(limits=limits, auth_cache_seconds=60))
    try:
        api = make_api(services, "small")
        other_replica = create_app(services)  # its own fast path, the same Redis buckets
        headers = [(b"authorization", f"Bearer {api.keys['service']}".encode())]
        first = api.client.post("/v1/predict/fraud", headers=api.headers("service"), json={})
        assert first.status_code == 404  # admitted (no such endpoint); remembered here
        there = TestClient(other_replica).post(
            "/v1/predict/fraud", headers=api.headers("service"), json={}
        )
        assert there.status_code == 404  # and there

        async def no_lookup(raw_key: str | None) -> None:
            raise AssertionError("a refused request's key was looked up")

        monkeypatch.setattr(services.keys, "authenticate_async", no_lookup)
        status, answer, _, reads = call(api.client.app, "/v1/predict/fraud", headers)
        assert (status, reads) == (429, 0)  # the other replica took the second token
        assert int(answer["retry-after"]) >= 1
        assert services.limiter.status() == {"store": "redis"}
    finally:
        services.close()
        delete_prefix(f"ailayer:rate:{{{api.tenant_id}}}")
