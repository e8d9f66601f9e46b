"""``ailayer teams``, ``ailayer owner`` and ``keys create --team`` against a live server,
and ``keys create --tenant --team`` on the metadata database (the team made if new)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ailayer import Client
from ailayer.bootstrap import build
from ailayer.core.settings import load_settings
from tests.support.cli import assert_one_clear_error, ok, run
from tests.support.sdk import Server
from tests.support.services import tiny_sklearn_model


def cli(server: Server, *args: str, role: str = "admin") -> list[str]:
    return [*args, "--url", server.url, "--api-key", server.keys[role]]


def test_teams_keys_and_owners_through_the_cli(server: Server) -> None:
    ok(*cli(server, "teams", "create", "growth"))
    ok(*cli(server, "teams", "create", "risk"))
    created = json.loads(
        ok(*cli(server, "keys", "create", "dev-risk", "--team", "risk", "--json")).stdout
    )
    assert created["team"] == "risk"
    tiny = tiny_sklearn_model()
    with Client(server.url, server.keys["admin"]) as admin:
        admin.register_model("fraud", tiny.artifact, flavor="sklearn", signature=tiny.signature)

    said = ok(*cli(server, "owner", "set", "model", "fraud", "growth")).stdout
    assert "owned by team 'growth'" in said
    shown = json.loads(ok(*cli(server, "owner", "show", "model", "fraud", "--json")).stdout)
    assert (shown["kind"], shown["name"], shown["team"]) == ("model", "fraud", "growth")
    assert shown["updated_by"].startswith("admin-key")
    listed = json.loads(ok(*cli(server, "owner", "list", "--team", "growth", "--json")).stdout)
    assert [(o["kind"], o["name"]) for o in listed] == [("model", "fraud")]
    teams = json.loads(ok(*cli(server, "teams", "list", "--json")).stdout)
    assert {t["name"]: (t["keys"], t["owns"]) for t in teams} == {
        "growth": (0, 1),
        "risk": (1, 0),
    }

    refused = run(
        "alias", "set", "fraud", "champion", "1", "--url", server.url, "--api-key", created["key"]
    )
    assert_one_clear_error(refused, 1, "owned by team 'growth'")

    in_use = run(*cli(server, "teams", "delete", "growth"))
    assert_one_clear_error(in_use, 1, "owns 1 object")
    ok(*cli(server, "owner", "set", "model", "fraud", "--none"))
    ok(*cli(server, "teams", "delete", "growth"))
    usage = run(*cli(server, "owner", "set", "model", "fraud"))
    assert_one_clear_error(usage, 2, "exactly one of TEAM or --none")
    developer = run(*cli(server, "owner", "set", "model", "fraud", "risk", role="developer"))
    assert_one_clear_error(developer, 1, "teams:manage")


def test_keys_create_on_the_database_makes_the_team(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AILAYER_HOME", str(tmp_path / ".ailayer"))
    args = ("keys", "create", "ci", "--tenant", "t1", "--team", "data", "--json")
    created = json.loads(ok(*args).stdout)
    assert created["team"] == "data"
    services = build(load_settings())
    try:
        assert services.keys.authenticate(created["key"]).team == "data"
    finally:
        services.close()
