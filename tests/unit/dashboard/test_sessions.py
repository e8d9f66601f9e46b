"""Console sessions without a browser: the cookie, what is stored, expiry, revocation,
sign-out, and sign-in refusals."""

from __future__ import annotations

import hashlib
import time
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from ailayer.bootstrap import build
from ailayer.core.clock import utcnow
from ailayer.dashboard.access import COOKIE
from ailayer.db.tables import api_keys, ui_sessions
from tests.support.api import Api, make_api
from tests.support.console import browser, canary_on_fraud, csrf_of, sign_in
from tests.support.oidc import AUDIENCE, ISSUER, local_issuer


def stored(api: Api) -> list:
    with api.services.db.read() as conn:
        return conn.execute(select(ui_sessions)).all()


def test_signing_in_sets_a_strict_http_only_cookie_and_stores_only_hashes(api: Api) -> None:
    client = TestClient(api.client.app)
    form = client.get("/ui/signin")
    answer = client.post(
        "/ui/signin",
        data={"csrf_token": csrf_of(form.text), "credential": api.keys["viewer"], "next": "/ui/"},
        follow_redirects=False,
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/ui/"
    cookie = next(c for c in answer.headers.get_list("set-cookie") if c.startswith(COOKIE))
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/ui" in cookie
    assert "Secure" not in cookie  # plain http here; https requests get Secure
    token = client.cookies.get(COOKIE)
    [row] = stored(api)
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in str(tuple(row)) and api.keys["viewer"] not in str(tuple(row))
    assert row.tenant_id == api.tenant_id
    assert timedelta(hours=7.9) < row.expires_at - row.created_at <= timedelta(hours=8)


def test_a_wrong_key_is_refused_with_the_reason_and_no_session(api: Api) -> None:
    client = TestClient(api.client.app)
    form = client.get("/ui/signin")
    answer = client.post(
        "/ui/signin",
        data={
            "csrf_token": csrf_of(form.text),
            "credential": "ail_0000000000000000_nope-nope-nope-nope-nope",
        },
    )
    assert answer.status_code == 401
    assert "invalid API key" in answer.text
    assert client.cookies.get(COOKIE) is None and stored(api) == []


def test_the_sign_in_form_needs_its_own_token(api: Api) -> None:
    client = TestClient(api.client.app)
    answer = client.post("/ui/signin", data={"credential": api.keys["admin"]})
    assert answer.status_code == 403 and "out of date" in answer.text
    assert stored(api) == []


def test_without_a_session_every_page_sends_to_sign_in_and_shows_nothing(api: Api) -> None:
    client = TestClient(api.client.app)
    for path in ("/ui/", "/ui/models", "/ui/models/fraud", "/ui/deployments/fraud"):
        answer = client.get(path, follow_redirects=False)
        assert answer.status_code == 303
        assert answer.headers["location"].startswith("/ui/signin?next=")
    page = client.get("/ui/models")
    assert page.url.path == "/ui/signin" and "session ended" not in page.text


def test_an_expired_session_goes_back_to_sign_in_saying_so(api: Api) -> None:
    client = browser(api, "viewer")
    assert client.get("/ui/models").status_code == 200
    with api.services.db.write() as conn:
        conn.execute(update(ui_sessions).values(expires_at=utcnow() - timedelta(seconds=1)))
    page = client.get("/ui/models")
    assert page.url.path == "/ui/signin" and "Your session ended" in page.text
    assert "Models" not in page.text.split("<main", 1)[1].split("Sign in")[0]
    assert client.cookies.get(COOKIE) is None  # the cookie is dropped too


def test_the_session_length_is_a_setting(make_settings) -> None:  # type: ignore[no-untyped-def]
    services = build(make_settings(ui_session_seconds=60))
    try:
        api = make_api(services)
        browser(api)
        [row] = stored(api)
        assert row.expires_at - row.created_at == timedelta(seconds=60)
        api.client.close()
    finally:
        services.close()


def test_revoking_the_key_ends_its_session_on_the_next_page(api: Api) -> None:
    client = browser(api, "developer")
    assert client.get("/ui/").status_code == 200
    prefix = api.keys["developer"].split("_")[1]
    api.services.keys.revoke_key(api.tenant_id, prefix, actor="test")
    page = client.get("/ui/", follow_redirects=False)
    assert page.status_code == 303 and "ended=1" in page.headers["location"]


def test_an_expired_key_ends_its_session(api: Api) -> None:
    client = browser(api, "developer")
    prefix = api.keys["developer"].split("_")[1]
    soon = utcnow() + timedelta(seconds=5)
    api.services.keys.set_expiry(api.tenant_id, prefix, soon, actor="test")
    assert client.get("/ui/").status_code == 200
    with api.services.db.write() as conn:  # time passes for the key
        conn.execute(
            update(api_keys)
            .where(api_keys.c.prefix == prefix)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    assert client.get("/ui/", follow_redirects=False).status_code == 303


def test_signing_out_deletes_the_session_so_a_copied_cookie_stops_working(api: Api) -> None:
    client = browser(api)
    token = client.cookies.get(COOKIE)
    page = client.get("/ui/")
    answer = client.post(
        "/ui/signout", data={"csrf_token": csrf_of(page.text)}, follow_redirects=False
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/ui/signin"
    assert stored(api) == []
    thief = TestClient(api.client.app, cookies={COOKIE: token})
    assert thief.get("/ui/", follow_redirects=False).status_code == 303


def test_a_session_of_one_tenant_never_sees_another(services) -> None:  # type: ignore[no-untyped-def]
    acme, other = make_api(services, "acme"), make_api(services, "globex")
    canary_on_fraud(acme)
    client = sign_in(TestClient(other.client.app), other.keys["admin"])
    for path in (
        "/ui/models/fraud",
        "/ui/models/fraud/versions/1",
        "/ui/models/fraud/versions/1/card",
        "/ui/deployments/fraud",
        "/ui/deployments/fraud/confirm/rollback?revision=1",
    ):
        page = client.get(path)
        assert page.status_code == 404, path
        assert "<h1>Not found</h1>" in page.text
    listing = client.get("/ui/models")
    assert 'data-model="fraud"' not in listing.text
    assert 'data-endpoint="fraud"' not in client.get("/ui/").text
    acme.client.close()
    other.client.close()


def test_an_oidc_token_signs_in_and_its_session_ends_with_the_token(make_settings) -> None:  # type: ignore[no-untyped-def]
    with local_issuer() as issuer:
        services = build(
            make_settings(oidc_issuer=ISSUER, oidc_audience=AUDIENCE, oidc_jwks_url=issuer.jwks_url)
        )
        api = make_api(services)
        try:
            client = TestClient(api.client.app)
            form = client.get("/ui/signin")
            assert "bearer token" in form.text  # the form says tokens are accepted here
            token = issuer.token(role="viewer", team=None, exp=int(time.time()) + 120)
            sign_in(client, token)
            page = client.get("/ui/models")
            assert page.status_code == 200 and "alice@example.test" in page.text
            [row] = stored(api)
            assert row.key_id == "oidc:alice@example.test" and token not in str(tuple(row))
            assert row.expires_at - utcnow() <= timedelta(seconds=120 + 60)  # exp + leeway
            with services.db.write() as conn:  # the token's time runs out
                claims = {**row.token_principal, "expires_at": time.time() - 1}
                conn.execute(update(ui_sessions).values(token_principal=claims))
            assert client.get("/ui/models", follow_redirects=False).status_code == 303
        finally:
            api.client.close()
            services.close()


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/ui", "/v1/keys"])
def test_sign_in_goes_back_only_to_a_console_page(api: Api, target: str) -> None:
    client = TestClient(api.client.app)
    form = client.get("/ui/signin", params={"next": target})
    assert 'name="next" value="/ui/"' in form.text
    answer = client.post(
        "/ui/signin",
        data={"csrf_token": csrf_of(form.text), "credential": api.keys["viewer"], "next": target},
        follow_redirects=False,
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/ui/"


def test_a_page_asked_for_before_sign_in_is_where_sign_in_leads(api: Api) -> None:
    client = TestClient(api.client.app)
    form = client.get("/ui/models")  # → the sign-in page, remembering where it was going
    assert form.url.path == "/ui/signin" and 'name="next" value="/ui/models"' in form.text
    answer = client.post(
        "/ui/signin",
        data={
            "csrf_token": csrf_of(form.text),
            "credential": api.keys["viewer"],
            "next": "/ui/models",
        },
        follow_redirects=False,
    )
    assert answer.headers["location"] == "/ui/models"


def test_signing_in_again_replaces_the_browsers_session(api: Api) -> None:
    client = browser(api, "viewer")
    first = client.cookies.get(COOKIE)
    sign_in(client, api.keys["developer"])
    assert client.cookies.get(COOKIE) != first
    [row] = stored(api)  # the first one is gone, not left to expire
    assert row.token_hash == hashlib.sha256(client.cookies.get(COOKIE).encode()).hexdigest()
    assert "developer-key" in client.get("/ui/").text
