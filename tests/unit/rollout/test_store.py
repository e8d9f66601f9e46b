"""The deployment store on SQLite: versions checked per tenant, compare-and-set revisions,
history and audit, canaries across tenants, promotion and rollback."""

from __future__ import annotations

import pytest

from ailayer.core.errors import Conflict, InvalidInput, NotFound
from ailayer.governance import audit
from ailayer.rollout.policy import requested
from tests.support.api import make_api
from tests.support.deployments import two_versions, variant


@pytest.fixture
def store(api):  # type: ignore[no-untyped-def]
    two_versions(api)
    return api.services.deployments


def single(version: int = 1):  # type: ignore[no-untyped-def]
    return requested("checkout", {"kind": "single", "variants": [variant("main", version, 100)]})


def canary_policy():  # type: ignore[no-untyped-def]
    body = {"kind": "canary", "variants": [variant("stable", 1), variant("canary", 2)]}
    for v in body["variants"]:
        v.pop("share")
    return requested("checkout", body)


def test_put_stores_revisions_and_history_with_actors(api, store) -> None:  # type: ignore[no-untyped-def]
    assert store.active(api.tenant_id, "checkout") is None
    first = store.put(api.tenant_id, "key:alice", single(1))
    second = store.put(api.tenant_id, "key:bob", single(2))
    assert (first.revision, second.revision) == (1, 2)
    assert store.active(api.tenant_id, "checkout").variant("main").version == 2
    history = store.history(api.tenant_id, "checkout")
    assert [(h["revision"], h["actor"]) for h in history] == [(2, "key:bob"), (1, "key:alice")]
    assert history[1]["policy"]["variants"][0]["version"] == 1
    with api.services.db.read() as conn:
        entries = audit.entries(conn, api.tenant_id, "endpoint/checkout/deployment")
    assert [e["detail"]["revision"] for e in entries] == [2, 1]


def test_an_unknown_version_is_not_found_naming_the_variant(api, store) -> None:  # type: ignore[no-untyped-def]
    store.put(api.tenant_id, "a", single(1))
    with pytest.raises(NotFound, match=r"variant 'main'.*version 9") as caught:
        store.put(api.tenant_id, "a", single(9))
    assert caught.value.field == "variants"
    assert store.active(api.tenant_id, "checkout").revision == 1  # nothing changed


def test_another_tenants_version_is_not_found(api, store) -> None:  # type: ignore[no-untyped-def]
    other = make_api(api.services, "globex")
    with pytest.raises(NotFound, match="variant 'main'"):
        store.put(other.tenant_id, "b", single(1))
    assert store.active(other.tenant_id, "checkout") is None
    other.client.close()


def test_an_archived_version_is_refused(api, store) -> None:  # type: ignore[no-untyped-def]
    api.services.registry.archive_version(api.tenant_id, "a", "fraud", 2)
    with pytest.raises(InvalidInput, match="archived") as caught:
        store.put(api.tenant_id, "a", single(2))
    assert caught.value.field == "variants"


def test_a_stale_revision_conflicts_and_changes_nothing(api, store) -> None:  # type: ignore[no-untyped-def]
    deployed = store.put(api.tenant_id, "a", canary_policy())
    store.transition(api.tenant_id, "controller", deployed.revision, deployed.at_step(1))
    with pytest.raises(Conflict) as caught:
        store.transition(api.tenant_id, "person", deployed.revision, deployed.rolled_back("x"))
    assert caught.value.field == "revision"
    now = store.active(api.tenant_id, "checkout")
    assert (now.revision, now.state, now.variant("canary").share) == (2, "active", 25)
    with pytest.raises(Conflict):
        store.transition(api.tenant_id, "c", 0, single(1))  # revision 0: none stored yet


def test_canaries_lists_active_canaries_of_every_tenant(api, store) -> None:  # type: ignore[no-untyped-def]
    other = make_api(api.services, "globex")
    two_versions(other)
    store.put(api.tenant_id, "a", canary_policy())
    store.put(other.tenant_id, "b", canary_policy())
    store.put(other.tenant_id, "b", requested("plain", {"variants": [variant("m", 1, 100)]}))
    found = {(tenant, policy.endpoint) for tenant, policy in store.canaries()}
    assert found == {(api.tenant_id, "checkout"), (other.tenant_id, "checkout")}
    store.rollback(api.tenant_id, "a", "checkout", "errors")
    assert [t for t, _ in store.canaries()] == [other.tenant_id]
    other.client.close()


def test_rollback_keeps_the_canary_at_zero_and_a_retry_changes_nothing(api, store) -> None:  # type: ignore[no-untyped-def]
    store.put(api.tenant_id, "a", canary_policy())
    rolled = store.rollback(api.tenant_id, "a", "checkout", "p99 doubled")
    assert (rolled.state, rolled.reason) == ("rolled_back", "p99 doubled")
    assert {v.name: v.share for v in rolled.variants} == {"stable": 100, "canary": 0}
    again = store.rollback(api.tenant_id, "a", "checkout", "retry")
    assert again.revision == rolled.revision == 2
    with pytest.raises(Conflict, match="rolled back"):
        store.promote(api.tenant_id, "a", "checkout")


def test_promote_steps_then_goes_to_full(api, store) -> None:  # type: ignore[no-untyped-def]
    store.put(api.tenant_id, "a", canary_policy())
    assert store.promote(api.tenant_id, "a", "checkout").variant("canary").share == 25
    assert store.promote(api.tenant_id, "a", "checkout", to=50).variant("canary").share == 50
    with pytest.raises(InvalidInput) as caught:
        store.promote(api.tenant_id, "a", "checkout", to=30)
    assert caught.value.field == "to"
    with pytest.raises(InvalidInput, match="already"):
        store.promote(api.tenant_id, "a", "checkout", to=25)
    full = store.promote(api.tenant_id, "a", "checkout", to=100)
    assert (full.kind, full.state) == ("single", "promoted")
    assert [(v.name, v.version, v.share) for v in full.live] == [("stable", 2, 100)]
    with pytest.raises(InvalidInput) as caught:
        store.promote(api.tenant_id, "a", "checkout")
    assert caught.value.field == "kind"


def test_reading_a_missing_deployment_is_not_found(api, store) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(NotFound, match="alias"):
        store.get(api.tenant_id, "checkout")
    assert store.history(api.tenant_id, "checkout") == []
