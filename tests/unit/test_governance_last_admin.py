"""A tenant always keeps one active admin key: revoking the last one is refused (409),
also when two revocations race, on SQLite and on PostgreSQL."""

from __future__ import annotations

import threading

import pytest

from ailayer.core.errors import Conflict, Unauthenticated
from ailayer.db.engine import Database
from ailayer.db.migrate import upgrade
from ailayer.governance.keys import KeyService


@pytest.fixture
def keys(metadata_url):  # type: ignore[no-untyped-def]
    database = Database(metadata_url)
    upgrade(database)
    yield KeyService(database, cache_seconds=0)
    database.dispose()


def test_the_last_admin_key_cannot_be_revoked(keys) -> None:  # type: ignore[no-untyped-def]
    tenant = keys.create_tenant("acme")
    admin = keys.create_key(tenant, "admin", "admin")
    viewer = keys.create_key(tenant, "viewer", "viewer")
    with pytest.raises(Conflict) as refused:
        keys.revoke_key(tenant, admin.prefix, actor="admin")
    message = refused.value.message
    assert "last active admin key" in message and "acme" in message
    assert "ailayer keys create" in message and "--role admin" in message
    assert keys.authenticate(admin.key).role.value == "admin"  # still works
    keys.revoke_key(tenant, viewer.prefix, actor="admin")  # other roles: as before
    with pytest.raises(Unauthenticated):
        keys.authenticate(viewer.key)


def test_one_admin_may_go_while_another_stays(keys) -> None:  # type: ignore[no-untyped-def]
    tenant = keys.create_tenant("acme")
    first = keys.create_key(tenant, "first", "admin")
    second = keys.create_key(tenant, "second", "admin")
    keys.revoke_key(tenant, first.prefix, actor="second")
    with pytest.raises(Conflict):
        keys.revoke_key(tenant, second.prefix, actor="second")
    other = keys.create_tenant("globex")  # another tenant's admins do not count
    keys.create_key(other, "admin", "admin")
    with pytest.raises(Conflict):
        keys.revoke_key(tenant, second.prefix, actor="second")


def test_racing_revocations_of_the_last_two_admins_leave_one(keys) -> None:  # type: ignore[no-untyped-def]
    for round_ in range(5):
        tenant = keys.create_tenant(f"acme{round_}")
        admins = [keys.create_key(tenant, f"admin{i}", "admin") for i in range(2)]
        barrier = threading.Barrier(2)
        outcomes: list[str] = []

        def revoke(prefix: str, tenant: str = tenant, barrier=barrier, outcomes=outcomes) -> None:  # type: ignore[no-untyped-def]
            barrier.wait()
            try:
                keys.revoke_key(tenant, prefix, actor="race")
                outcomes.append("revoked")
            except Conflict:
                outcomes.append("refused")

        threads = [threading.Thread(target=revoke, args=(a.prefix,)) for a in admins]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert sorted(outcomes) == ["refused", "revoked"], round_
        active = [k for k in keys.list_keys(tenant) if k["revoked_at"] is None]
        assert [k["role"] for k in active] == ["admin"]


def test_revoking_the_last_admin_over_http_is_409(api) -> None:  # type: ignore[no-untyped-def]
    prefix = api.keys["admin"].split("_")[1]
    response = api.client.delete(f"/v1/keys/{prefix}", headers=api.headers())
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "conflict" and "last active admin key" in error["message"]
    assert api.client.get("/v1/keys", headers=api.headers()).status_code == 200
