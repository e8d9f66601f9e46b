"""Keys with an expiry, a last-used time, rotation with an overlap and endpoint scopes, on
SQLite and PostgreSQL, and at the HTTP edge (the predict fast path included)."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import pytest
from sqlalchemy import event, update

from ailayer.core.clock import utcnow
from ailayer.core.errors import Conflict, InvalidInput, NotFound, Unauthenticated
from ailayer.db.engine import Database
from ailayer.db.migrate import upgrade
from ailayer.db.tables import api_keys
from ailayer.governance import audit
from ailayer.governance.keys import KeyService
from tests.support.services import tiny_sklearn_model

GOOD = {"amount": 900.0, "card_age_days": 3}
INPUTS = [
    {"name": "amount", "shape": [1], "datatype": "FP64", "data": [900.0]},
    {"name": "card_age_days", "shape": [1], "datatype": "FP64", "data": [3.0]},
]


@pytest.fixture
def keys(metadata_url):  # type: ignore[no-untyped-def]
    database = Database(metadata_url)
    upgrade(database)
    yield KeyService(database, cache_seconds=0)
    database.dispose()


def stored(keys: KeyService, tenant: str, prefix: str) -> dict:
    return next(row for row in keys.list_keys(tenant) if row["prefix"] == prefix)


def set_column(keys: KeyService, prefix: str, **values) -> None:  # type: ignore[no-untyped-def]
    with keys.db.write() as conn:
        conn.execute(update(api_keys).where(api_keys.c.prefix == prefix).values(**values))


# expiry ------------------------------------------------------------------------------------


def test_an_expired_key_is_refused_saying_it_expired(keys) -> None:  # type: ignore[no-untyped-def]
    tenant = keys.create_tenant("acme")
    keys.create_key(tenant, "admin", "admin")
    soon = keys.create_key(tenant, "ci", "service", expires_at=utcnow() + timedelta(hours=1))
    assert keys.authenticate(soon.key).role.value == "service"
    assert stored(keys, tenant, soon.prefix)["expires_at"] == soon.expires_at
    set_column(keys, soon.prefix, expires_at=utcnow() - timedelta(seconds=1))
    with pytest.raises(Unauthenticated, match=f"API key '{soon.prefix}' expired at"):
        keys.authenticate(soon.key)


def test_expiry_leaks_nothing_to_a_caller_without_the_secret(keys) -> None:  # type: ignore[no-untyped-def]
    acme = keys.create_tenant("acme")
    gone = keys.create_key(acme, "ci", "service", expires_at=utcnow() + timedelta(hours=1))
    set_column(keys, gone.prefix, expires_at=utcnow() - timedelta(seconds=1))
    guessed = f"ail_{gone.prefix}_{'x' * 32}"  # the right prefix, a wrong secret
    with pytest.raises(Unauthenticated) as refused:
        keys.authenticate(guessed)
    assert refused.value.message == "invalid API key"
    unknown = f"ail_{'0' * 16}_{'x' * 32}"
    with pytest.raises(Unauthenticated) as refused:
        keys.authenticate(unknown)
    assert refused.value.message == "invalid API key"


def test_a_cached_key_is_refused_once_it_expires(metadata_url) -> None:  # type: ignore[no-untyped-def]
    database = Database(metadata_url)
    upgrade(database)
    keys = KeyService(database, cache_seconds=60)  # the cache would serve it for a minute
    try:
        tenant = keys.create_tenant("acme")
        short = keys.create_key(tenant, "ci", "service", expires_at=utcnow() + timedelta(seconds=1))
        assert keys.authenticate(short.key).key_prefix == short.prefix
        time.sleep(1.2)
        with pytest.raises(Unauthenticated, match="expired"):
            keys.authenticate(short.key)
    finally:
        database.dispose()


def test_an_expiry_in_the_past_or_without_a_zone_is_refused(keys) -> None:  # type: ignore[no-untyped-def]
    tenant = keys.create_tenant("acme")
    with pytest.raises(InvalidInput, match="future") as refused:
        keys.create_key(tenant, "ci", "service", expires_at=utcnow() - timedelta(minutes=1))
    assert refused.value.field == "expires_at"
    with pytest.raises(InvalidInput, match="zone"):
        naive = (utcnow() + timedelta(hours=1)).replace(tzinfo=None)
        keys.create_key(tenant, "ci", "service", expires_at=naive)
    for edge in ("0001-01-01T00:00:00+05:00", "9999-12-31T23:59:00-05:00"):
        with pytest.raises(InvalidInput, match="out of range"):
            keys.create_key(tenant, "ci", "service", expires_at=datetime.fromisoformat(edge))


def test_the_last_admin_key_cannot_be_given_an_expiry(keys) -> None:  # type: ignore[no-untyped-def]
    tenant = keys.create_tenant("acme")
    admin = keys.create_key(tenant, "admin", "admin")
    later = utcnow() + timedelta(days=1)
    with pytest.raises(Conflict, match="last active admin key") as refused:
        keys.set_expiry(tenant, admin.prefix, later, actor="admin")
    assert "expiring it" in refused.value.message
    # admin keys that expire, or are scoped, do not keep the tenant manageable
    keys.create_key(tenant, "temp", "admin", expires_at=later)
    keys.create_key(tenant, "scoped", "admin", endpoints=["fraud"])
    with pytest.raises(Conflict):
        keys.revoke_key(tenant, admin.prefix, actor="admin")
    second = keys.create_key(tenant, "second", "admin")
    keys.set_expiry(tenant, admin.prefix, later, actor="second")
    assert stored(keys, tenant, admin.prefix)["expires_at"] == later
    with pytest.raises(Conflict):
        keys.set_expiry(tenant, second.prefix, later, actor="second")
    keys.set_expiry(tenant, admin.prefix, None, actor="second")  # never expires again
    assert stored(keys, tenant, admin.prefix)["expires_at"] is None
    with pytest.raises(NotFound):
        keys.set_expiry(tenant, "0" * 16, later, actor="second")


# last use ----------------------------------------------------------------------------------


def test_last_use_is_written_at_most_once_a_minute_per_key(keys) -> None:  # type: ignore[no-untyped-def]
    tenant = keys.create_tenant("acme")
    created = keys.create_key(tenant, "ci", "service")
    assert stored(keys, tenant, created.prefix)["last_used_at"] is None
    writes: list[str] = []

    def count(conn, cursor, statement, *args) -> None:  # type: ignore[no-untyped-def]
        if statement.lstrip().upper().startswith("UPDATE API_KEYS"):
            writes.append(statement)

    event.listen(keys.db.engine, "before_cursor_execute", count)
    try:
        for _ in range(25):  # cache_seconds=0: every call looks the key up
            keys.authenticate(created.key)
    finally:
        event.remove(keys.db.engine, "before_cursor_execute", count)
    assert len(writes) == 1
    first = stored(keys, tenant, created.prefix)["last_used_at"]
    assert first is not None and utcnow() - first < timedelta(minutes=1)
    set_column(keys, created.prefix, last_used_at=utcnow() - timedelta(minutes=2))
    keys.authenticate(created.key)
    assert stored(keys, tenant, created.prefix)["last_used_at"] > first


# rotation ----------------------------------------------------------------------------------


def test_rotation_keeps_the_old_secret_for_the_overlap_then_refuses_it(keys) -> None:  # type: ignore[no-untyped-def]
    tenant = keys.create_tenant("acme")
    keys.create_key(tenant, "admin", "admin")
    old = keys.create_key(tenant, "ci", "service", endpoints=["fraud"])
    rotated = keys.rotate_key(tenant, "ci", 1, actor="admin")
    new = rotated.created
    assert new.key != old.key and new.name == "ci" and new.role.value == "service"
    assert new.endpoints == ["fraud"] and rotated.old_prefix == old.prefix
    assert keys.authenticate(old.key).key_prefix == old.prefix  # within the overlap
    assert keys.authenticate(new.key).endpoints == frozenset({"fraud"})
    row = stored(keys, tenant, old.prefix)
    assert row["replaced_by"] == new.prefix and row["expires_at"] == rotated.old_valid_until
    time.sleep(1.2)
    with pytest.raises(Unauthenticated, match="expired"):
        keys.authenticate(old.key)
    assert keys.authenticate(new.key).key_prefix == new.prefix
    with keys.db.read() as conn:
        entry = audit.entries(conn, tenant, f"key/{old.prefix}")[0]
    assert entry["action"] == "key.rotate" and entry["detail"]["new"] == new.prefix


def test_rotating_again_rotates_the_new_key_and_names_must_be_unambiguous(keys) -> None:  # type: ignore[no-untyped-def]
    tenant = keys.create_tenant("acme")
    keys.create_key(tenant, "admin", "admin")
    keys.create_key(tenant, "ci", "service")
    first = keys.rotate_key(tenant, "ci", 3600, actor="admin")
    second = keys.rotate_key(tenant, "ci", 3600, actor="admin")  # the old one is not picked
    assert second.old_prefix == first.created.prefix
    twin = keys.create_key(tenant, "ci", "viewer")
    with pytest.raises(Conflict, match="rotate one by its prefix"):
        keys.rotate_key(tenant, "ci", 60, actor="admin")
    by_prefix = keys.rotate_key(tenant, twin.prefix, 60, actor="admin")
    assert by_prefix.created.role.value == "viewer"
    with pytest.raises(NotFound):
        keys.rotate_key(tenant, "nobody", 60, actor="admin")
    with pytest.raises(InvalidInput) as refused:
        keys.rotate_key(tenant, "admin", -1, actor="admin")
    assert refused.value.field == "overlap_seconds"


def test_rotating_the_last_admin_key_keeps_the_tenant_manageable(keys) -> None:  # type: ignore[no-untyped-def]
    tenant = keys.create_tenant("acme")
    admin = keys.create_key(tenant, "admin", "admin")
    rotated = keys.rotate_key(tenant, "admin", 0, actor="admin")
    with pytest.raises(Unauthenticated, match="expired"):
        keys.authenticate(admin.key)  # overlap 0: the old secret is refused at once
    with pytest.raises(Conflict, match="last active admin key"):
        keys.revoke_key(tenant, rotated.created.prefix, actor="admin")
    keys.revoke_key(tenant, admin.prefix, actor="admin")  # the rotated-out one may go
    assert keys.authenticate(rotated.created.key).role.value == "admin"


def test_an_expiry_never_brings_back_a_secret_meant_to_end(keys) -> None:  # type: ignore[no-untyped-def]
    tenant = keys.create_tenant("acme")
    keys.create_key(tenant, "admin", "admin")
    old = keys.create_key(tenant, "ci", "service")
    rotated = keys.rotate_key(tenant, "ci", 600, actor="admin")
    with pytest.raises(Conflict, match="rotated out") as refused:
        keys.set_expiry(tenant, old.prefix, None, actor="admin")
    assert refused.value.field == "expires_at"
    with pytest.raises(Conflict, match="may only be shortened"):
        keys.set_expiry(tenant, old.prefix, utcnow() + timedelta(days=1), actor="admin")
    sooner = rotated.old_valid_until - timedelta(minutes=5)
    assert keys.set_expiry(tenant, old.prefix, sooner, actor="admin")["expires_at"] == sooner
    set_column(keys, old.prefix, expires_at=utcnow() - timedelta(seconds=1))
    with pytest.raises(Conflict, match="expired at"):
        keys.set_expiry(tenant, old.prefix, None, actor="admin")
    with pytest.raises(Unauthenticated, match="expired"):
        keys.authenticate(old.key)


# endpoint scopes ---------------------------------------------------------------------------


def test_a_scope_must_name_valid_endpoints(keys) -> None:  # type: ignore[no-untyped-def]
    tenant = keys.create_tenant("acme")
    for bad in ([], ["no spaces"], [f"e{i}" for i in range(101)]):
        with pytest.raises(InvalidInput) as refused:
            keys.create_key(tenant, "ci", "service", endpoints=bad)
        assert refused.value.field == "endpoints"
    created = keys.create_key(tenant, "ci", "service", endpoints=["b", "a", "b"])
    assert created.endpoints == ["a", "b"]


@pytest.fixture
def scoped(api):  # type: ignore[no-untyped-def]
    """Endpoints fraud and churn on one model; a service key scoped to fraud."""
    assert api.register("fraud", tiny_sklearn_model(), aliases=["champion"]).status_code == 201
    for name in ("fraud", "churn"):
        body = {"model": "fraud", "alias": "champion"}
        assert api.client.put(f"/v1/endpoints/{name}", headers=api.headers(), json=body).is_success
    created = api.client.post(
        "/v1/keys",
        headers=api.headers(),
        json={"name": "fraud-only", "role": "developer", "endpoints": ["fraud"]},
    )
    assert created.status_code == 201, created.text
    assert created.json()["endpoints"] == ["fraud"]
    return {"Authorization": f"Bearer {created.json()['key']}"}


def refused_for(response, endpoint: str) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == 403, response.text
    body = response.json()
    message = body["error"]["message"] if "error" in body else body.get("error", "")
    assert f"endpoint {endpoint!r}" in str(message) and "[fraud]" in str(message)


@pytest.mark.parametrize("query", ["", "?explain=maybe"])  # the fast path, and FastAPI's route
def test_a_scoped_key_predicts_only_on_its_endpoints(api, scoped, query) -> None:  # type: ignore[no-untyped-def]
    ok = api.client.post(f"/v1/predict/fraud{query}", headers=scoped, json=GOOD)
    assert ok.status_code == (200 if not query else 422), ok.text
    refused_for(api.client.post(f"/v1/predict/churn{query}", headers=scoped, json=GOOD), "churn")


def test_a_scoped_key_infers_only_on_its_endpoints(api, scoped) -> None:  # type: ignore[no-untyped-def]
    body = {"inputs": INPUTS}
    assert api.client.post("/v2/models/fraud/infer", headers=scoped, json=body).status_code == 200
    denied = api.client.post("/v2/models/churn/infer", headers=scoped, json=body)
    assert denied.status_code == 403 and "churn" in denied.json()["error"]
    assert api.client.get("/v2/models/churn", headers=scoped).status_code == 403
    assert api.client.get("/v2/models/fraud", headers=scoped).status_code == 200


def test_a_scoped_key_sees_and_changes_only_its_endpoints(api, scoped) -> None:  # type: ignore[no-untyped-def]
    listed = api.client.get("/v1/endpoints", headers=scoped).json()
    assert [row["name"] for row in listed] == ["fraud"]
    body = {"model": "fraud", "alias": "champion"}
    refused_for(api.client.put("/v1/endpoints/churn", headers=scoped, json=body), "churn")
    assert api.client.put("/v1/endpoints/fraud", headers=scoped, json=body).status_code == 200
    refused_for(api.client.get("/v1/endpoints/churn/deployment", headers=scoped), "churn")
    refused_for(api.client.get("/v1/monitoring/churn/performance", headers=scoped), "churn")
    assert api.client.get("/v1/models", headers=scoped).status_code == 200  # not endpoint-bound


def test_a_scoped_admin_key_may_not_manage_keys(api) -> None:  # type: ignore[no-untyped-def]
    created = api.client.post(
        "/v1/keys",
        headers=api.headers(),
        json={"name": "scoped-admin", "role": "admin", "endpoints": ["fraud"]},
    ).json()
    headers = {"Authorization": f"Bearer {created['key']}"}
    denied = api.client.post("/v1/keys", headers=headers, json={"name": "x", "role": "admin"})
    assert denied.status_code == 403 and "may not manage keys" in denied.json()["error"]["message"]


# over HTTP ---------------------------------------------------------------------------------


def test_keys_over_http_expire_rotate_and_list_their_lifecycle(api) -> None:  # type: ignore[no-untyped-def]
    later = (utcnow() + timedelta(days=30)).isoformat()
    created = api.client.post(
        "/v1/keys",
        headers=api.headers(),
        json={"name": "ci", "role": "service", "expires_at": later},
    ).json()
    assert created["expires_at"] is not None
    mine = {"Authorization": f"Bearer {created['key']}"}
    assert api.client.get("/metrics", headers=mine).status_code == 200
    rotated = api.client.post(
        "/v1/keys/ci/rotate", headers=api.headers(), json={"overlap_seconds": 600}
    )
    assert rotated.status_code == 201, rotated.text
    answer = rotated.json()
    assert (
        answer["old_prefix"] == created["prefix"] and answer["expires_at"] == created["expires_at"]
    )
    listed = {
        row["prefix"]: row for row in api.client.get("/v1/keys", headers=api.headers()).json()
    }
    old = listed[created["prefix"]]
    assert old["replaced_by"] == answer["prefix"] and old["last_used_at"] is not None
    assert old["expires_at"] == answer["old_valid_until"]
    prefix = answer["prefix"]
    gone = (utcnow() - timedelta(minutes=1)).isoformat()
    past = api.client.put(
        f"/v1/keys/{prefix}/expiry", headers=api.headers(), json={"expires_at": gone}
    )
    assert past.status_code == 422 and past.json()["error"]["field"] == "expires_at"
    admin = api.keys["admin"].split("_")[1]
    last = api.client.put(
        f"/v1/keys/{admin}/expiry", headers=api.headers(), json={"expires_at": later}
    )
    assert last.status_code == 409 and "last active admin key" in last.json()["error"]["message"]
    for overlap in (-5, False, "1h", 31 * 86400):
        body = {"overlap_seconds": overlap}
        bad = api.client.post("/v1/keys/ci/rotate", headers=api.headers(), json=body)
        assert bad.status_code == 422, overlap
    actions = [e["action"] for e in api.client.get("/v1/audit", headers=api.headers()).json()]
    assert "key.rotate" in actions


def test_an_expired_key_is_401_naming_the_expiry_over_http(api) -> None:  # type: ignore[no-untyped-def]
    created = api.services.keys.create_key(
        api.tenant_id, "ci", "service", expires_at=utcnow() + timedelta(hours=1)
    )
    set_column(api.services.keys, created.prefix, expires_at=utcnow() - timedelta(seconds=1))
    api.services.keys.cache.clear()
    headers = {"Authorization": f"Bearer {created.key}"}
    for method, path in [("GET", "/v1/models"), ("POST", "/v1/predict/fraud")]:
        response = api.client.request(method, path, headers=headers, json=GOOD)
        assert response.status_code == 401, path
        assert "expired at" in response.json()["error"]["message"]
