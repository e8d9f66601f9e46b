"""Privacy requests and PII-tagged features over HTTP, the SDK and the CLI: requests are
for admins, a bad subject is refused by name, a viewer or developer never sees a raw PII
value (online reads, training sets), an admin's raw read is audited, and a version
registered with PII-tagged feature refs logs those inputs hashed."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from ailayer.governance import audit
from ailayer.governance.pii import pii_hash
from tests.support import privacy as seeded
from tests.support.api import Api
from tests.support.cli import assert_one_clear_error, ok, run
from tests.support.sdk import Server

EMAIL = "c42@example.com"


def seed_profiles(services, tenant: str) -> None:  # type: ignore[no-untyped-def]
    services.features.apply(tenant, "test", seeded.DEFINITIONS)
    seeded.write_profiles(services, tenant, [42, 7])
    seeded.materialize(services, tenant)


def latest(api: Api) -> dict:
    with api.services.db.read() as conn:
        return audit.entries(conn, api.tenant_id, limit=1)[0]


@pytest.mark.parametrize("role", ["developer", "viewer", "service"])
def test_privacy_requests_are_for_admins(api: Api, role: str) -> None:
    for action in ("export", "delete"):
        answer = api.client.post(
            f"/v1/privacy/{action}", headers=api.headers(role), json={"subject": "customer_id=1"}
        )
        assert answer.status_code == 403, answer.text


@pytest.mark.parametrize("subject", ["customer_id", "=42", "no such key=1", "customer_id="])
def test_a_bad_subject_is_refused_by_name(api: Api, subject: str) -> None:
    answer = api.client.post("/v1/privacy/export", headers=api.headers(), json={"subject": subject})
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["field"] == "subject"


def test_a_subject_that_matches_nothing_gets_an_empty_export_and_receipt(api: Api) -> None:
    body = {"subject": "customer_id=999"}
    found = api.client.post("/v1/privacy/export", headers=api.headers(), json=body).json()
    assert found["records"] == 0 and found["erased_before"] is False
    receipt = api.client.post("/v1/privacy/delete", headers=api.headers(), json=body).json()
    assert receipt["complete"] and receipt["removed"] == 0
    assert latest(api)["action"] == "privacy.delete"
    again = api.client.post("/v1/privacy/export", headers=api.headers(), json=body).json()
    assert again["erased_before"] is True


def online(api: Api, role: str, features: list[str]) -> dict:
    body = {"features": features, "entity_rows": [{"customer_id": 42}]}
    answer = api.client.post("/v1/features/online", headers=api.headers(role), json=body)
    assert answer.status_code == 200, answer.text
    return answer.json()["rows"][0]


def test_online_pii_is_hashed_for_every_role_but_admin(api: Api) -> None:
    seed_profiles(api.services, api.tenant_id)
    salt = api.services.salts.salt(api.tenant_id)
    for role in ("viewer", "developer", "service"):
        row = online(api, role, ["profile:email", "profile:plan_value"])
        assert row["email"] == pii_hash(EMAIL, salt) and row["plan_value"] == 42.0
    assert latest(api)["action"] != "pii.read"
    assert online(api, "admin", ["profile:email"])["email"] == EMAIL
    entry = latest(api)
    assert (entry["action"], entry["target"]) == ("pii.read", "features/online")
    assert entry["detail"] == {"columns": ["email"], "rows": 1}
    online(api, "admin", ["profile:plan_value"])  # no PII asked: nothing to record
    assert latest(api)["id"] == entry["id"]


def test_training_sets_hash_pii_unless_the_role_may_read_it(api: Api) -> None:
    seed_profiles(api.services, api.tenant_id)
    body = {
        "features": ["profile:email", "profile:plan_value"],
        "entity_rows": [{"customer_id": 42, "event_timestamp": datetime.now(UTC).isoformat()}],
        "full_names": True,
    }
    developer = api.client.post(
        "/v1/features/training-set", headers=api.headers("developer"), json=body
    ).json()["rows"][0]
    salt = api.services.salts.salt(api.tenant_id)
    assert developer["profile__email"] == pii_hash(EMAIL, salt)
    assert latest(api)["action"] == "dataset.read"
    admin = api.client.post("/v1/features/training-set", headers=api.headers(), json=body)
    assert admin.json()["rows"][0]["profile__email"] == EMAIL
    entry = latest(api)
    assert entry["action"] == "pii.read" and entry["detail"]["columns"] == ["profile__email"]
    assert entry["target"] == f"dataset/{admin.json()['dataset']['id']}"


def test_a_version_with_pii_feature_refs_gets_their_pii_tags(api: Api) -> None:
    api.services.features.apply(api.tenant_id, "test", seeded.DEFINITIONS)
    refs = ["profile:email", "profile:plan_value"]
    made = api.register(feature_refs=refs, tags={"pii_redact": "ssn", "team": "risk"})
    assert made.status_code == 201, made.text
    tags = made.json()["tags"]
    assert tags == {"pii": "email", "pii_redact": "ssn", "team": "risk"}


def test_the_cli_exports_and_deletes_a_subject(server: Server, services, tmp_path) -> None:  # type: ignore[no-untyped-def]
    tenant = services.keys.tenant_id("acme")
    seed_profiles(services, tenant)
    key = ("--url", server.url, "--api-key", server.keys["admin"])
    out = tmp_path / "subject.json"
    written = ok("privacy", "export", "--subject", "customer_id=42", "-o", str(out), *key)
    assert f"1 records of customer_id=42 written to {out}" in written.output
    exported = json.loads(out.read_text())
    assert exported["records"] == 1 and exported["subject"] == "customer_id=42"
    deleted = ok("privacy", "delete", "--subject", "customer_id=42", "--yes", *key).output
    assert "deleted 1 records (complete)" in deleted and "online_store: 1 removed" in deleted
    assert "customer_sources: not touched" in deleted
    receipt = json.loads(
        ok("privacy", "delete", "--subject", "customer_id=42", "--yes", "--json", *key).output
    )
    assert receipt["removed"] == 0 and receipt["complete"]
    viewer = ("--url", server.url, "--api-key", server.keys["viewer"])
    assert_one_clear_error(
        run("privacy", "export", "--subject", "customer_id=42", *viewer), 1, "privacy"
    )
