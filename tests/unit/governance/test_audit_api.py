"""The audit trail over HTTP, the SDK and the CLI: each entry names the request that
caused it, verify and export are admin-only, a tampered row makes verify fail (exit 1 in
the CLI), and a training set read over HTTP is recorded."""

from __future__ import annotations

import itertools
import json

import pytest
from sqlalchemy import delete, update

from ailayer.db.tables import audit_log
from ailayer.governance import audit
from tests.support import feature_repo
from tests.support.api import Api
from tests.support.cli import assert_one_clear_error, ok, run
from tests.support.feature_repo import REPO, ts
from tests.support.sdk import CLIENTS, Server


def latest(api: Api) -> dict:
    with api.services.db.read() as conn:
        return audit.entries(conn, api.tenant_id, limit=1)[0]


def tamper(api: Api, statement) -> None:  # type: ignore[no-untyped-def]
    with api.services.db.engine.begin() as conn:
        conn.execute(statement)


def test_an_entry_names_the_request_and_its_source(api: Api) -> None:
    created = api.client.post(
        "/v1/keys", headers=api.headers(), json={"name": "ci", "role": "viewer"}
    )
    assert created.status_code == 201, created.text
    entry = latest(api)
    assert entry["action"] == "key.create"
    assert entry["request_id"] == created.headers["x-request-id"]
    assert entry["source"] == "testclient"  # the client address the ASGI server reports
    listed = api.client.get("/v1/audit", headers=api.headers()).json()[0]
    assert listed["request_id"] == entry["request_id"] and listed["seq"] == entry["seq"]


def test_every_control_plane_answer_has_its_own_request_id(api: Api) -> None:
    first = api.client.get("/v1/models", headers=api.headers())
    missing = api.client.get("/v1/models/nope", headers=api.headers())
    assert missing.status_code == 404  # errors too: the id is what a caller quotes
    ids = {first.headers["x-request-id"], missing.headers["x-request-id"]}
    assert len(ids) == 2 and all(len(i) == 32 for i in ids)


@pytest.mark.parametrize("role", ["developer", "viewer", "service"])
def test_verify_and_export_are_for_admins(api: Api, role: str) -> None:
    for path in ("/v1/audit/verify", "/v1/audit/export"):
        assert api.client.get(path, headers=api.headers(role)).status_code == 403


def test_verify_reports_the_first_broken_link(api: Api) -> None:
    for name in ("a", "b", "c"):
        api.client.post("/v1/keys", headers=api.headers(), json={"name": name, "role": "viewer"})
    intact = api.client.get("/v1/audit/verify", headers=api.headers()).json()
    assert intact["ok"] and intact["broken"] is None and intact["entries"] >= 7
    with api.services.db.read() as conn:
        victim = audit.entries(conn, api.tenant_id)[2]
    tamper(api, update(audit_log).where(audit_log.c.id == victim["id"]).values(target="x"))
    broken = api.client.get("/v1/audit/verify", headers=api.headers()).json()
    assert not broken["ok"]
    assert broken["broken"]["seq"] == victim["seq"] and broken["broken"]["field"] == "hash"
    assert broken["broken"]["entry_id"] == victim["id"]
    assert broken["broken"]["found"] == victim["hash"]


def test_export_is_json_lines_with_the_hashes(api: Api) -> None:
    response = api.client.get("/v1/audit/export?format=jsonl", headers=api.headers())
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert [e["seq"] for e in lines] == list(range(1, len(lines) + 1))
    assert all(b["prev_hash"] == a["hash"] for a, b in itertools.pairwise(lines))
    assert {"request_id", "source", "actor", "action", "target", "at"} <= lines[0].keys()
    later = lines[-1]["at"]
    since = api.client.get("/v1/audit/export", params={"since": later}, headers=api.headers())
    assert [json.loads(line)["id"] for line in since.text.splitlines()] == [lines[-1]["id"]]


@pytest.mark.parametrize(
    ("params", "field"),
    [({"format": "csv"}, "format"), ({"since": "yesterday"}, "since"), ({"since": "0.5"}, "since")],
)
def test_export_refuses_a_bad_parameter_by_name(api: Api, params: dict, field: str) -> None:
    response = api.client.get("/v1/audit/export", params=params, headers=api.headers())
    assert response.status_code == 422
    assert response.json()["error"]["field"] == field


def test_a_training_set_read_over_http_is_recorded(api: Api) -> None:
    api.services.features.apply(api.tenant_id, "test", REPO)
    feature_repo.write_data(api.services.offline.tenant_root(api.tenant_id))
    body = {
        "features": ["customer_stats:avg_amount"],
        "entity_rows": [{"customer_id": 1, "event_timestamp": ts(5).isoformat()}],
    }
    response = api.client.post("/v1/features/training-set", headers=api.headers(), json=body)
    assert response.status_code == 200, response.text
    dataset = response.json()["dataset"]
    entry = latest(api)
    assert (entry["action"], entry["target"]) == ("dataset.read", f"dataset/{dataset['id']}")
    assert entry["detail"] == {"rows": 1, "content_sha256": dataset["content_sha256"]}
    assert entry["request_id"] == response.headers["x-request-id"]


@pytest.mark.parametrize("cls", CLIENTS)
def test_the_sdk_verifies_and_exports(server: Server, cls: type) -> None:
    async def scenario(client):  # type: ignore[no-untyped-def]
        return await client.verify_audit(), await client.export_audit()

    verdict, lines = server.run(cls, scenario)
    assert verdict["ok"] and verdict["entries"] == len(lines.splitlines())
    assert json.loads(lines.splitlines()[-1])["hash"] == verdict["head_hash"]


def test_the_cli_verifies_through_the_server_and_fails_on_a_break(server: Server, services) -> None:  # type: ignore[no-untyped-def]
    key = ("--url", server.url, "--api-key", server.keys["admin"])
    ok("keys", "create", "ci", "--role", "viewer", *key)
    assert "audit trail intact" in ok("audit", "verify", *key).output
    exported = ok("audit", "export", "--format", "jsonl", *key).output.splitlines()
    created = json.loads(exported[-1])
    assert created["action"] == "key.create" and created["source"] == "127.0.0.1"
    assert created["request_id"] is not None
    victim = json.loads(exported[1])
    with services.db.engine.begin() as conn:
        conn.execute(delete(audit_log).where(audit_log.c.id == victim["id"]))
    result = run("audit", "verify", *key)
    assert result.exit_code == 1, result.output
    assert f"BROKEN at seq {victim['seq']}" in result.output
    assert f"entry {victim['seq']} is missing" in result.output
    as_json = json.loads(run("audit", "verify", "--json", *key).output)
    assert as_json["broken"]["field"] == "seq" and not as_json["ok"]


def test_the_cli_reads_a_tenant_on_the_database(services, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("AILAYER_METADATA_URL", services.settings.metadata_url)
    tenant_id = services.keys.create_tenant("acme")
    services.keys.create_key(tenant_id, "first", "admin")
    assert "1 entry," in ok("audit", "verify", "--tenant", "acme").output
    lines = ok("audit", "export", "--tenant", "acme", "--since", "2020-01-01").output
    assert json.loads(lines)["action"] == "key.create"
    with services.db.engine.begin() as conn:
        conn.execute(update(audit_log).values(actor="someone else"))
    assert run("audit", "verify", "--tenant", "acme").exit_code == 1
    assert_one_clear_error(run("audit", "verify", "--tenant", "nobody"), 1, "--tenant")
