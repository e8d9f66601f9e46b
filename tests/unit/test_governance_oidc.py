"""Bearer JWTs from an OIDC issuer, against a real local issuer: its own key pairs and a
JWKS document served over HTTP on loopback. Good tokens become principals on every route
and the predict fast path; every bad one is a 401 saying why, never a 500."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from ailayer.api import create_app
from ailayer.bootstrap import Services, build
from ailayer.core.errors import Unauthenticated
from tests.support.api import make_api
from tests.support.oidc import (
    AUDIENCE,
    ISSUER,
    LocalIssuer,
    hs256_with_public_key,
    local_issuer,
    new_key,
    unsigned_token,
)
from tests.support.services import tiny_sklearn_model

GOOD = {"amount": 900.0, "card_age_days": 3}


@dataclass
class Sso:
    issuer: LocalIssuer
    services: Services
    client: TestClient

    def get(self, token: str, path: str = "/v1/models"):  # type: ignore[no-untyped-def]
        return self.client.get(path, headers={"Authorization": f"Bearer {token}"})

    def refused(self, token: str) -> str:
        response = self.get(token)
        assert response.status_code == 401, response.text
        assert response.headers["www-authenticate"] == "Bearer"
        return response.json()["error"]["message"]


def sso_services(make_settings, issuer: LocalIssuer, **overrides) -> Services:  # type: ignore[no-untyped-def]
    settings = {
        "oidc_issuer": ISSUER,
        "oidc_audience": AUDIENCE,
        "oidc_jwks_url": issuer.jwks_url,
        "oidc_jwks_refresh_seconds": 0,
        **overrides,
    }
    return build(make_settings(**settings))


@pytest.fixture
def sso(make_settings) -> Iterator[Sso]:  # type: ignore[no-untyped-def]
    with local_issuer() as issuer:
        services = sso_services(make_settings, issuer)
        api = make_api(services)  # tenant acme with a key per role
        assert api.register("fraud", tiny_sklearn_model(), aliases=["champion"]).status_code == 201
        try:
            yield Sso(issuer, services, api.client)
        finally:
            api.client.close()
            services.close()


@pytest.mark.parametrize("kid", ["rsa-1", "ec-1"])
def test_rs256_and_es256_tokens_are_principals_of_their_tenant(sso, kid) -> None:  # type: ignore[no-untyped-def]
    key = next(k for k in sso.issuer.keys if k.kid == kid)
    token = sso.issuer.token(key)
    listed = sso.get(token)
    assert listed.status_code == 200 and [m["name"] for m in listed.json()] == ["fraud"]
    principal = sso.services.keys.authenticate(token)
    assert (principal.tenant_name, principal.role.value, principal.team) == (
        "acme",
        "developer",
        "risk",
    )
    assert principal.actor == "alice@example.test (oidc)"


def test_the_predict_fast_path_and_v2_infer_take_tokens(sso) -> None:  # type: ignore[no-untyped-def]
    headers = {"Authorization": f"Bearer {sso.issuer.token(role='service')}"}
    predicted = sso.client.post("/v1/predict/fraud", headers=headers, json=GOOD)
    assert predicted.status_code == 200, predicted.text
    assert predicted.json()["model"] == "fraud"
    slow = sso.client.post("/v1/predict/fraud?explain=maybe", headers=headers, json=GOOD)
    assert slow.status_code == 422  # handed on to the FastAPI route, which took the token too
    inputs = [
        {"name": "amount", "shape": [1], "datatype": "FP64", "data": [900.0]},
        {"name": "card_age_days", "shape": [1], "datatype": "FP64", "data": [3.0]},
    ]
    inferred = sso.client.post("/v2/models/fraud/infer", headers=headers, json={"inputs": inputs})
    assert inferred.status_code == 200, inferred.text


def test_the_role_claim_is_checked_per_route(sso) -> None:  # type: ignore[no-untyped-def]
    viewer = {"Authorization": f"Bearer {sso.issuer.token(role='viewer')}"}
    refused = sso.client.post("/v1/predict/fraud", headers=viewer, json=GOOD)
    assert refused.status_code == 403 and "viewer" in refused.json()["error"]["message"]
    assert sso.client.get("/v1/keys", headers=viewer).status_code == 403
    admin = {"Authorization": f"Bearer {sso.issuer.token(role='admin')}"}
    assert sso.client.get("/v1/keys", headers=admin).status_code == 200


def test_expired_and_not_yet_valid_tokens_are_refused(sso) -> None:  # type: ignore[no-untyped-def]
    now = int(time.time())
    assert "expired" in sso.refused(sso.issuer.token(exp=now - 120))  # leeway is 60 s
    assert sso.get(sso.issuer.token(exp=now - 30)).status_code == 200  # within the leeway
    assert "not valid yet" in sso.refused(sso.issuer.token(nbf=now + 120))
    assert sso.get(sso.issuer.token(nbf=now + 30)).status_code == 200  # skew within leeway


def test_a_cached_token_is_refused_once_it_expires(make_settings) -> None:  # type: ignore[no-untyped-def]
    with local_issuer() as issuer:
        services = sso_services(make_settings, issuer, oidc_leeway_seconds=0)
        try:
            services.keys.create_tenant("acme")
            token = issuer.token(exp=int(time.time()) + 2)
            assert services.keys.authenticate(token).tenant_name == "acme"
            assert services.keys.cached(token) is not None
            time.sleep(2.2)
            assert services.keys.cached(token) is None
            with pytest.raises(Unauthenticated, match="token expired"):
                services.keys.authenticate(token)
        finally:
            services.close()


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"aud": "another-api"}, "audience"),
        ({"iss": "https://evil.example.test/"}, "issuer"),
        ({"tenant": None}, "tenant claim 'tenant'"),
        ({"tenant": "globex"}, "tenant 'globex'"),
        ({"role": "root"}, "'role' must be one of admin, developer, viewer, service"),
        ({"role": None}, "'role' must be one of"),
        ({"role": ["admin"]}, "'role' must be one of"),
        ({"sub": None}, "'sub' claim"),
        ({"exp": None}, "'exp' claim"),
    ],
)
def test_wrong_claims_are_refused_naming_the_claim(sso, claims, reason) -> None:  # type: ignore[no-untyped-def]
    assert reason in sso.refused(sso.issuer.token(**claims))


def test_a_wrong_signature_is_refused(sso) -> None:  # type: ignore[no-untyped-def]
    impostor = new_key("rsa-1", "RS256")  # the issuer's kid, another private key
    assert "signature" in sso.refused(sso.issuer.token(impostor))
    good = sso.issuer.token()
    head, body, signature = good.split(".")
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    assert "signature" in sso.refused(f"{head}.{body}.{flipped}")


def test_alg_none_is_refused(sso) -> None:  # type: ignore[no-untyped-def]
    for alg in ("none", "None", "NONE"):
        token = unsigned_token({"alg": alg, "typ": "JWT", "kid": "rsa-1"}, sso.issuer.claims())
        assert f"algorithm {alg!r} is not accepted" in sso.refused(token)


def test_hs256_with_the_public_key_as_secret_is_refused(sso) -> None:  # type: ignore[no-untyped-def]
    for key in sso.issuer.keys:
        token = hs256_with_public_key(key, sso.issuer.claims())
        assert "algorithm 'HS256' is not accepted" in sso.refused(token)


def test_an_algorithm_not_matching_the_key_is_refused(sso) -> None:  # type: ignore[no-untyped-def]
    rsa = sso.issuer.keys[0]
    ec_signed = new_key("other", "ES256")
    token = sso.issuer.token(ec_signed, headers={"kid": rsa.kid})  # ES256 naming an RSA key
    assert "does not match the issuer's key" in sso.refused(token)


def test_unknown_kid_and_missing_kid_are_refused(sso) -> None:  # type: ignore[no-untyped-def]
    stranger = new_key("not-published", "RS256")
    assert "key id 'not-published'" in sso.refused(sso.issuer.token(stranger))
    token = sso.issuer.token(headers={"kid": None})
    assert "no 'kid'" in sso.refused(token)


@pytest.mark.parametrize("token", ["a.b.c", "eyJhbGciOiJSUzI1NiJ9.e30", "x.y.z.w"])
def test_malformed_tokens_are_401_not_500(sso, token) -> None:  # type: ignore[no-untyped-def]
    response = sso.get(token)
    assert response.status_code == 401


def test_a_key_rotated_at_the_issuer_is_fetched_on_its_first_token(sso) -> None:  # type: ignore[no-untyped-def]
    assert sso.get(sso.issuer.token()).status_code == 200
    fetched = sso.issuer.fetches
    rotated = sso.issuer.publish(new_key("rsa-2", "RS256"))
    assert sso.get(sso.issuer.token(rotated)).status_code == 200
    assert sso.issuer.fetches == fetched + 1


def test_unknown_kids_refresh_the_keys_at_most_once_per_interval(make_settings) -> None:  # type: ignore[no-untyped-def]
    with local_issuer() as issuer:
        services = sso_services(make_settings, issuer, oidc_jwks_refresh_seconds=600)
        try:
            services.keys.create_tenant("acme")
            assert services.keys.authenticate(issuer.token()).tenant_name == "acme"
            assert issuer.fetches == 1
            stranger = new_key("made-up", "ES256")
            for index in range(20):  # a flood of made-up kids
                token = issuer.token(stranger, headers={"kid": f"made-up-{index}"})
                with pytest.raises(Unauthenticated, match="is not one of the issuer's keys"):
                    services.keys.authenticate(token)
            assert issuer.fetches == 1  # the keys were fetched within the interval: no refetch
            services.keys.tokens.jwks.min_refresh = 0  # the interval has passed
            with pytest.raises(Unauthenticated, match="is not one of the issuer's keys"):
                services.keys.authenticate(issuer.token(stranger, headers={"kid": "made-up-x"}))
            assert issuer.fetches == 2
        finally:
            services.close()


def test_an_unreachable_issuer_is_503_not_500(make_settings) -> None:  # type: ignore[no-untyped-def]
    with local_issuer() as issuer:
        services = sso_services(make_settings, issuer)
        token = issuer.token()
    try:  # the issuer's server is gone
        make_api(services)
        client = TestClient(create_app(services))
        response = client.get("/v1/models", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 503
        assert "oidc_jwks_url" in response.json()["error"]["message"]
        client.close()
    finally:
        services.close()


def test_without_an_issuer_tokens_are_refused_clearly(api) -> None:  # type: ignore[no-untyped-def]
    with local_issuer() as issuer:
        token = issuer.token()
    response = api.client.get("/v1/models", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert "no OIDC issuer is configured" in response.json()["error"]["message"]


def test_settings_refuse_an_incomplete_or_clear_text_issuer(make_settings) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="oidc_audience"):
        make_settings(oidc_issuer=ISSUER, oidc_jwks_url="https://login.example.test/jwks")
    with pytest.raises(ValueError, match="oidc_jwks_url"):
        make_settings(oidc_issuer=ISSUER, oidc_audience=AUDIENCE)
    with pytest.raises(ValueError, match="https"):
        make_settings(oidc_jwks_url="http://login.example.test/jwks")
