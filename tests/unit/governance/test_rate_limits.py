"""Request rates per tenant and per key: 429 with Retry-After, overrides, Redis down."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ailayer.bootstrap import Services, build
from ailayer.core.limits import Limits
from tests.support.api import Api, make_api
from tests.support.services import free_port


@pytest.fixture
def limited(make_settings) -> Iterator[Services]:  # type: ignore[no-untyped-def]
    limits = {
        "rate_per_second": 0.01,
        "burst": 2,
        "tenants": {"big": {"rate_per_second": 1000, "burst": 1000}},
    }
    built = build(make_settings(limits=limits))
    yield built
    built.close()


def calls(api: Api, times: int, role: str = "admin") -> list:
    return [api.client.get("/v1/models", headers=api.headers(role)) for _ in range(times)]


def test_over_its_rate_a_tenant_gets_429_with_retry_after(limited: Services) -> None:
    api = make_api(limited, "small")
    first, second, third = calls(api, 3)
    assert first.status_code == second.status_code == 200
    assert third.status_code == 429
    assert int(third.headers["retry-after"]) >= 1
    error = third.json()["error"]
    assert error["code"] == "rate_limited"
    assert "tenant 'small'" in error["message"]


def test_the_predict_fast_path_is_limited_too(limited: Services) -> None:
    api = make_api(limited, "small")
    answers = [
        api.client.post("/v1/predict/nothing", headers=api.headers("service"), json={})
        for _ in range(3)
    ]
    assert [a.status_code for a in answers] == [404, 404, 429]
    assert "retry-after" in answers[2].headers


def test_an_override_and_another_tenant_are_not_held_back(limited: Services) -> None:
    small, big = make_api(limited, "small"), make_api(limited, "big")
    assert calls(small, 3)[-1].status_code == 429
    assert {r.status_code for r in calls(big, 20)} == {200}


def test_a_key_rate_holds_one_key_not_its_tenant(make_settings) -> None:  # type: ignore[no-untyped-def]
    built = build(make_settings(limits={"key_rate_per_second": 0.01}))
    try:
        api = make_api(built)
        assert [r.status_code for r in calls(api, 2)] == [200, 429]
        assert "key 'admin-key'" in calls(api, 1)[0].json()["error"]["message"]
        assert calls(api, 1, role="developer")[0].status_code == 200
    finally:
        built.close()


def test_redis_down_falls_back_to_local_buckets_and_readyz_says_so(make_settings) -> None:  # type: ignore[no-untyped-def]
    store = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    built = build(make_settings(limits={"rate_per_second": 0.01, "burst": 1, "store": store}))
    try:
        api = make_api(built)
        assert [r.status_code for r in calls(api, 2)] == [200, 429]
        ready = api.client.get("/readyz").json()
        assert ready["rate_limits"]["store"] == "local"
        assert ready["rate_limits"]["degraded"] is True
    finally:
        built.close()


def test_without_rates_nothing_is_checked_and_readyz_is_unchanged(api: Api) -> None:
    assert not api.services.limiter.on
    assert {r.status_code for r in calls(api, 5)} == {200}
    assert api.client.get("/readyz").json() == {"status": "ready"}


def test_overrides_match_a_tenant_by_name_or_id_and_keep_unset_defaults() -> None:
    limits = Limits(rate_per_second=5, max_models=3, tenants={"t-id": {"max_models": 10}})
    assert limits.of("acme", "t-id").max_models == 10
    assert limits.of("acme", "t-id").rate_per_second == 5
    assert limits.of("other", "o-id").max_models == 3
    bursty = Limits(rate_per_second=2, burst=2, tenants={"big": {"rate_per_second": 500}})
    assert bursty.of("big").burst is None  # one second's worth, not the default's 2
    assert bursty.of("small").burst == 2


def test_a_store_that_is_not_redis_is_refused(make_settings) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="redis://"):
        make_settings(limits={"store": "memcached://x"})
