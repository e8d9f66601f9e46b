"""Keys, roles and tenants at the HTTP edge."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from ailayer.db.tables import api_keys
from tests.support.api import make_api


def test_health_needs_no_key_but_everything_else_does(api) -> None:  # type: ignore[no-untyped-def]
    assert api.client.get("/healthz").status_code == 200
    for method, path in [("GET", "/v1/models"), ("POST", "/v1/predict/x"), ("GET", "/v1/keys")]:
        response = api.client.request(method, path)
        assert response.status_code == 401, path
        assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("key", ["nonsense", "ail_0123456789abcdef_" + "x" * 32])
def test_wrong_keys_are_401(api, key) -> None:  # type: ignore[no-untyped-def]
    response = api.client.get("/v1/models", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 401


def test_x_api_key_header_works_too(api) -> None:  # type: ignore[no-untyped-def]
    response = api.client.get("/v1/models", headers={"X-API-Key": api.keys["viewer"]})
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("role", "method", "path", "allowed"),
    [
        ("viewer", "GET", "/v1/models", True),
        ("viewer", "POST", "/v1/predict/fraud", False),
        ("viewer", "PUT", "/v1/models/fraud/aliases/champion", False),
        ("service", "GET", "/v1/models", False),
        ("developer", "GET", "/v1/keys", False),
        ("developer", "POST", "/v1/keys", False),
        ("admin", "GET", "/v1/keys", True),
    ],
)
def test_roles_without_the_right_get_403(api, role, method, path, allowed) -> None:  # type: ignore[no-untyped-def]
    response = api.client.request(method, path, headers=api.headers(role), json={"version": 1})
    if allowed:
        assert response.status_code != 403
    else:
        assert response.status_code == 403
        assert role in response.json()["error"]["message"]


def test_keys_are_stored_only_as_hashes(api) -> None:  # type: ignore[no-untyped-def]
    with api.services.db.read() as conn:
        rows = conn.execute(select(api_keys)).all()
    stored = " ".join(str(value) for row in rows for value in row)
    for key in api.keys.values():
        secret = key.split("_", 2)[2]  # ail_<prefix>_<secret>; secrets may hold "_"
        assert secret not in stored


def test_new_key_is_shown_once_and_can_be_revoked(api) -> None:  # type: ignore[no-untyped-def]
    created = api.client.post(
        "/v1/keys", headers=api.headers(), json={"name": "ci-bot", "role": "service"}
    ).json()
    assert created["key"].startswith("ail_")
    listed = api.client.get("/v1/keys", headers=api.headers()).json()
    assert all("key" not in row and "secret_hash" not in row for row in listed)
    assert (
        api.client.delete(f"/v1/keys/{created['prefix']}", headers=api.headers()).status_code == 204
    )
    api.services.keys.cache.clear()
    response = api.client.get("/v1/models", headers={"Authorization": f"Bearer {created['key']}"})
    assert response.status_code == 401


def test_bad_role_is_422_naming_role(api) -> None:  # type: ignore[no-untyped-def]
    response = api.client.post(
        "/v1/keys", headers=api.headers(), json={"name": "x", "role": "root"}
    )
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "role"


def test_another_tenants_objects_answer_404(api) -> None:  # type: ignore[no-untyped-def]
    assert api.register("fraud", aliases=["champion"]).status_code == 201
    other = make_api(api.services, tenant="globex")
    try:
        for method, path in [
            ("GET", "/v1/models/fraud"),
            ("GET", "/v1/models/fraud/versions/1"),
            ("POST", "/v1/predict/fraud"),
        ]:
            body = {"amount": 1.0, "card_age_days": 1.0}
            response = other.client.request(method, path, headers=other.headers(), json=body)
            assert response.status_code == 404, path
        assert other.client.get("/v1/models", headers=other.headers()).json() == []
        moved = other.client.put(
            "/v1/models/fraud/aliases/champion", headers=other.headers(), json={"version": 1}
        )
        assert moved.status_code == 404
    finally:
        other.client.close()


def test_tenant_in_the_body_is_ignored(api) -> None:  # type: ignore[no-untyped-def]
    response = api.client.post(
        "/v1/keys", headers=api.headers(), json={"name": "x", "role": "viewer", "tenant": "globex"}
    )
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "tenant"
