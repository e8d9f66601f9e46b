"""A predict request over the caller's rate is refused (429, Retry-After) before its body
is read, with the same answer as before; a credential is remembered only after it
authenticated, and only for the key cache's time."""

from __future__ import annotations

from collections.abc import Iterator

import orjson
import pytest

from ailayer.api.refusal import Refusals, credential
from ailayer.bootstrap import Services, build
from tests.support.api import make_api
from tests.support.asgi_calls import call


@pytest.fixture
def limited(make_settings) -> Iterator[Services]:  # type: ignore[no-untyped-def]
    # remembered for a minute: a slow machine does not let an entry expire mid-test
    limits = {"rate_per_second": 0.01, "burst": 2}
    built = build(make_settings(limits=limits, auth_cache_seconds=60))
    yield built
    built.close()


@pytest.mark.parametrize(
    ("path", "header"),
    [
        ("/v1/predict/fraud", b"authorization"),
        ("/v1/predict/fraud", b"x-api-key"),
        ("/v2/models/fraud/infer", b"authorization"),
    ],
)
def test_over_the_rate_a_predict_is_refused_without_reading_its_body(
    limited: Services, path: str, header: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = make_api(limited, "small")
    app = api.client.app
    key = api.keys["service"]
    value = f"Bearer {key}".encode() if header == b"authorization" else key.encode()
    # the burst of 2: both admitted (the first authenticates and is remembered)
    first, second = (api.client.post(path, headers=api.headers("service"), json={}) for _ in "12")
    assert first.status_code == second.status_code == (400 if path.startswith("/v2/") else 404)

    async def no_lookup(raw_key: str | None) -> None:
        raise AssertionError("a refused request's key was looked up")

    with monkeypatch.context() as patch:
        patch.setattr(limited.keys, "authenticate_async", no_lookup)
        status, headers, body, reads = call(app, path, [(header, value)])
    assert (status, reads) == (429, 0)
    assert int(headers["retry-after"]) >= 1
    assert headers["content-type"] == "application/json"
    error = orjson.loads(body)["error"]
    if path.startswith("/v2/"):  # the Open Inference Protocol's shape
        assert "tenant 'small'" in error
    else:
        assert error["code"] == "rate_limited" and "tenant 'small'" in error["message"]
    # the same answer as a FastAPI route's refusal (the limiter's RateLimited, rendered
    # by the app's error handler), in the shape of the path's protocol
    late = api.client.get("/v1/models", headers=api.headers("service"))
    assert late.status_code == 429
    expected = late.json()["error"]
    assert (error if path.startswith("/v2/") else error["message"]) == expected["message"]
    if not path.startswith("/v2/"):
        assert error == expected


def test_an_unknown_or_bad_credential_is_not_refused_early(limited: Services) -> None:
    api = make_api(limited, "small")
    app = api.client.app
    for _ in range(3):
        api.client.post("/v1/predict/fraud", headers=api.headers("service"), json={})
    status, _, _, _ = call(app, "/v1/predict/fraud", [(b"authorization", b"Bearer nope")])
    assert status == 401
    status, _, _, _ = call(app, "/v1/predict/fraud", [])
    assert status == 401


def test_a_remembered_credential_is_forgotten_after_the_ttl(limited: Services) -> None:
    api = make_api(limited, "small")
    now = [100.0]
    refusals = Refusals(limited.limiter, ttl=2.0, clock=lambda: now[0])
    principal = limited.keys.authenticate(api.keys["service"])
    scope = {"headers": [(b"authorization", f"Bearer {api.keys['service']}".encode())]}
    key = credential(scope)
    assert refusals.known(key) is None
    refusals.remember(key, principal)
    assert refusals.known(key).principal == principal
    now[0] += 1.9
    assert refusals.known(key) is not None
    now[0] += 0.2
    assert refusals.known(key) is None  # looked up again (a revoked key: 401)
    assert credential({"headers": []}) is None


def test_without_rates_nothing_is_remembered(services: Services) -> None:
    api = make_api(services)
    answers = [
        api.client.post("/v1/predict/fraud", headers=api.headers("service"), json={})
        for _ in range(5)
    ]
    assert {a.status_code for a in answers} == {404}


def test_the_credential_is_the_one_authentication_reads() -> None:
    def of(*headers: tuple[bytes, bytes]) -> bytes | None:
        return credential({"headers": list(headers)})

    assert of((b"authorization", b"Bearer k1")) == of((b"x-api-key", b"k1"))
    assert of((b"x-api-key", b"k2"), (b"authorization", b"bearer k1")) == of((b"x-api-key", b"k1"))
    # a first Authorization that is no bearer: the X-API-Key counts, never a later one
    assert of(
        (b"authorization", b"Basic x"), (b"authorization", b"Bearer k1"), (b"x-api-key", b"k2")
    ) == of((b"x-api-key", b"k2"))
    assert of((b"authorization", b"Basic x")) is None


def test_a_first_request_over_the_rate_is_refused_without_reading_its_body(
    limited: Services,
) -> None:
    api = make_api(limited, "small")
    for _ in range(2):  # the tenant's burst, used by another key
        api.client.post("/v1/predict/fraud", headers=api.headers("admin"), json={})
    fresh = limited.keys.create_key(api.tenant_id, "fresh", "service").key
    status, headers, _, reads = call(
        api.client.app, "/v1/predict/fraud", [(b"x-api-key", fresh.encode())]
    )
    assert (status, reads) == (429, 0)
    assert int(headers["retry-after"]) >= 1


def test_with_no_key_cache_every_request_is_still_limited(make_settings) -> None:  # type: ignore[no-untyped-def]
    built = build(make_settings(limits={"rate_per_second": 0.01, "burst": 2}, auth_cache_seconds=0))
    try:
        api = make_api(built, "small")
        answers = [
            api.client.post("/v1/predict/fraud", headers=api.headers("service"), json={})
            for _ in range(4)
        ]
        assert [a.status_code for a in answers] == [404, 404, 429, 429]
    finally:
        built.close()
