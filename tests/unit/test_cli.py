"""The ``ailayer`` command: local key creation and migrations, the registry and
predictions against a live server, and failures as one clear line without a traceback."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory

from ailayer import Client
from ailayer.api import create_app
from ailayer.bootstrap import build
from ailayer.core.settings import load_settings
from ailayer.db.engine import Database
from ailayer.db.migrate import MIGRATIONS_DIR, current_revision
from tests.support.cli import assert_one_clear_error, ok, run
from tests.support.services import free_port, live_server, tiny_sklearn_model

GOOD = {"amount": 900.0, "card_age_days": 3.0}
OTHER = {"amount": 10.0, "card_age_days": 300.0}


def create_key(name: str, role: str, tenant: str) -> dict:
    result = ok("keys", "create", name, "--role", role, "--tenant", tenant, "--json")
    return json.loads(result.stdout)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The CLI's settings home; the same one the ``services`` fixture builds on."""
    monkeypatch.chdir(tmp_path)
    path = tmp_path / ".ailayer"
    monkeypatch.setenv("AILAYER_HOME", str(path))
    return path


@dataclass
class Live:
    url: str
    key: str  # admin of tenant "acme", created by `ailayer keys create`

    def args(self, *args: str) -> list[str]:
        return [*args, "--url", self.url, "--api-key", self.key]


@pytest.fixture
def live(home, services):  # type: ignore[no-untyped-def]
    """A live server on the CLI's metadata database with ``fraud`` v1 as champion."""
    assert services.settings.home == home
    admin = create_key("admin", "admin", "acme")
    tiny = tiny_sklearn_model()
    with live_server(create_app(services)) as url, Client(url, admin["key"]) as client:
        client.register_model(
            "fraud", tiny.artifact, flavor="sklearn", signature=tiny.signature, aliases=["champion"]
        )
        yield Live(url, admin["key"])


# --- on the machine: keys create, db upgrade ------------------------------------------------


def test_keys_create_json_makes_a_working_key_on_the_local_database(home) -> None:  # type: ignore[no-untyped-def]
    first = create_key("ci", "service", "t1")
    second = create_key("ops", "viewer", "t1")  # the tenant exists now: reused
    assert set(first) == {
        "key",
        "name",
        "role",
        "tenant",
        "prefix",
        "expires_at",
        "endpoints",
        "team",
    }
    assert (first["name"], first["role"], first["tenant"]) == ("ci", "service", "t1")
    assert first["key"].startswith(f"ail_{first['prefix']}_")
    assert (home / "meta.db").exists()
    services = build(load_settings())
    try:
        principals = [services.keys.authenticate(k["key"]) for k in (first, second)]
    finally:
        services.close()
    assert [(p.tenant_name, p.role.value) for p in principals] == [
        ("t1", "service"),
        ("t1", "viewer"),
    ]
    assert principals[0].tenant_id == principals[1].tenant_id


def test_keys_create_for_people_prints_the_key_once_last(home) -> None:  # type: ignore[no-untyped-def]
    result = ok("keys", "create", "ci", "--tenant", "default")
    lines = result.stdout.splitlines()
    assert "developer key 'ci' for tenant 'default'" in lines[0]
    assert "not shown again" in lines[1]
    assert lines[2].startswith("ail_") and len(lines) == 3


def test_db_upgrade_migrates_to_the_newest_revision_and_can_run_again(home) -> None:  # type: ignore[no-untyped-def]
    head = ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()
    assert not (home / "meta.db").exists()
    for _ in range(2):
        result = ok("db", "upgrade")
        assert result.stdout.strip() == f"metadata database at revision {head}"
    database = Database(load_settings().metadata_url)
    try:
        assert current_revision(database) == head
    finally:
        database.dispose()


# --- against a server -----------------------------------------------------------------------


def test_models_list_and_show(live) -> None:  # type: ignore[no-untyped-def]
    [listed] = json.loads(ok(*live.args("models", "list", "--json")).stdout)
    assert (listed["name"], listed["latest_version"], listed["aliases"]) == (
        "fraud",
        1,
        {"champion": 1},
    )
    shown = json.loads(ok(*live.args("models", "show", "fraud", "--json")).stdout)
    assert [(v["version"], v["aliases"]) for v in shown["versions"]] == [(1, ["champion"])]
    assert "fraud" in ok(*live.args("models", "list")).stdout
    text = ok(*live.args("models", "show", "fraud")).stdout
    assert text.splitlines()[0] == "fraud: 1 version(s); aliases: champion→v1"
    assert "sklearn" in text


def test_models_serve_switches_between_compiled_and_original(live) -> None:  # type: ignore[no-untyped-def]
    import numpy as np
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1000, (200, 2))
    estimator = LogisticRegression().fit(x, (x[:, 0] > 500).astype(int))  # int labels
    signature = tiny_sklearn_model().signature
    with Client(live.url, live.key) as client:
        added = client.register_model(
            "fraud", sio.dumps(estimator), flavor="sklearn", signature=signature
        )
    assert added["serves_compiled"] is True, added["compilation"]
    out = ok(*live.args("models", "serve", "fraud", "2", "--serve", "original")).stdout
    assert out.strip() == "fraud version 2 serves its original form"
    shown = json.loads(
        ok(*live.args("models", "serve", "fraud", "2", "--serve", "compiled", "--json")).stdout
    )
    assert shown["serves_compiled"] is True
    refused = run(*live.args("models", "serve", "fraud", "1", "--serve", "compiled"))
    assert_one_clear_error(refused, 1, "has no compiled form to serve")


@pytest.mark.parametrize("as_json", [False, True])
def test_alias_set_moves_the_alias(live, as_json) -> None:  # type: ignore[no-untyped-def]
    tiny = tiny_sklearn_model(seed=1)
    with Client(live.url, live.key) as client:
        client.register_model("fraud", tiny.artifact, flavor="sklearn", signature=tiny.signature)
    args = live.args("alias", "set", "fraud", "champion", "2")
    out = ok(*args, *(["--json"] if as_json else [])).stdout
    if as_json:
        assert json.loads(out) == {"model": "fraud", "alias": "champion", "version": 2}
    else:
        assert out.strip() == "fraud@champion → version 2"
    shown = json.loads(ok(*live.args("models", "show", "fraud", "--json")).stdout)
    assert shown["aliases"] == {"champion": 2}


@pytest.mark.parametrize(
    ("records", "count"),
    [(GOOD, 1), ([GOOD, OTHER], 2), ({"records": [GOOD, OTHER, GOOD]}, 3)],
)
@pytest.mark.parametrize("source", ["inline", "@file", "stdin"])
def test_predict_reads_json_inline_from_a_file_or_stdin(
    live, tmp_path, records, count, source
) -> None:  # type: ignore[no-untyped-def]
    text, stdin = json.dumps(records), None
    if source == "@file":
        (tmp_path / "records.json").write_text(text)
        text = "@records.json"  # relative to the working directory
    elif source == "stdin":
        text, stdin = "-", text
    answer = json.loads(ok(*live.args("predict", "fraud", "--json", text), input=stdin).stdout)
    assert (answer["model"], answer["version"], answer["alias"]) == ("fraud", 1, "champion")
    assert len(answer["predictions"]) == count
    assert all(0.0 <= p["score"] <= 1.0 for p in answer["predictions"])


@pytest.mark.parametrize("source", ["--api-key", "AILAYER_API_KEY", "credentials"])
def test_the_key_and_url_come_from_option_environment_or_credentials(
    live, home, monkeypatch, source
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("AILAYER_URL", live.url)
    args = ["models", "list", "--json"]
    if source == "--api-key":
        args += ["--api-key", live.key]
    elif source == "AILAYER_API_KEY":
        monkeypatch.setenv("AILAYER_API_KEY", live.key)
    else:
        (home / "credentials").write_text(live.key + "\n")
    assert [m["name"] for m in json.loads(ok(*args).stdout)] == ["fraud"]


def test_keys_create_without_tenant_goes_through_the_api_for_the_keys_tenant(live) -> None:  # type: ignore[no-untyped-def]
    made = json.loads(ok(*live.args("keys", "create", "bot", "--role", "viewer", "--json")).stdout)
    assert (made["name"], made["role"], made["tenant"]) == ("bot", "viewer", "acme")
    listed = json.loads(ok(*live.args("keys", "list", "--json")).stdout)
    assert [k["name"] for k in listed] == ["admin", "bot"]
    text = ok(*live.args("keys", "create", "ci")).stdout.splitlines()
    assert "developer key 'ci' for tenant 'acme'" in text[0] and text[2].startswith("ail_")
    denied = run("keys", "create", "x", "--url", live.url, "--api-key", made["key"])
    assert_one_clear_error(denied, 1, "'viewer' may not")


def test_keys_list_and_revoke(live) -> None:  # type: ignore[no-untyped-def]
    ci = create_key("ci", "service", "acme")
    listed = json.loads(ok(*live.args("keys", "list", "--json")).stdout)
    assert [(k["name"], k["role"], k["revoked_at"]) for k in listed] == [
        ("admin", "admin", None),
        ("ci", "service", None),
    ]
    assert all("key" not in k for k in listed)
    table = ok(*live.args("keys", "list")).stdout
    assert "prefix" in table.splitlines()[1]
    assert all(k["prefix"] in table for k in listed)

    predict = ["predict", "fraud", "--json", json.dumps(GOOD), "--url", live.url]
    assert json.loads(ok(*predict, "--api-key", ci["key"]).stdout)["version"] == 1
    assert ok(*live.args("keys", "revoke", ci["prefix"])).stdout.strip() == (
        f"revoked {ci['prefix']}"
    )
    [_, revoked] = json.loads(ok(*live.args("keys", "list", "--json")).stdout)
    assert revoked["revoked_at"] is not None
    assert_one_clear_error(run(*predict, "--api-key", ci["key"]), 1, "invalid API key")


def test_keys_with_expiry_and_endpoints_rotate_and_expire(live) -> None:  # type: ignore[no-untyped-def]
    args = ["--role", "service", "--expires-in", "30d", "--endpoints", "fraud, churn", "--json"]
    made = json.loads(ok(*live.args("keys", "create", "ci", *args)).stdout)
    assert made["endpoints"] == ["churn", "fraud"] and made["expires_at"] is not None
    predict = ["predict", "fraud", "--json", json.dumps(GOOD), "--url", live.url]
    assert json.loads(ok(*predict, "--api-key", made["key"]).stdout)["version"] == 1
    text = ok(*live.args("keys", "rotate", "ci", "--overlap", "10m")).stdout.splitlines()
    assert text[0].startswith("rotated key 'ci' for tenant 'acme'") and text[2].startswith("ail_")
    assert text[3].startswith(f"the old key ({made['prefix']}) works until ")
    assert json.loads(ok(*predict, "--api-key", made["key"]).stdout)["version"] == 1  # overlap
    assert json.loads(ok(*predict, "--api-key", text[2]).stdout)["version"] == 1
    new_prefix = text[2].split("_")[1]
    said = ok(*live.args("keys", "expire", new_prefix, "--never")).stdout.strip()
    assert said == f"{new_prefix} expires never"
    listed = {k["prefix"]: k for k in json.loads(ok(*live.args("keys", "list", "--json")).stdout)}
    assert listed[new_prefix]["expires_at"] is None
    assert listed[made["prefix"]]["replaced_by"] == new_prefix
    admin = live.key.split("_")[1]
    refused = run(*live.args("keys", "expire", admin, "--in", "1h"))
    assert_one_clear_error(refused, 1, "last active admin key")
    bad = run(*live.args("keys", "rotate", "ci", "--overlap", "an hour"))
    assert_one_clear_error(bad, 2, "--overlap")


# --- failures: one clear line, no traceback -------------------------------------------------


DEAD = "http://127.0.0.1:{dead}"
SERVER = ["--url", "{url}", "--api-key", "{key}"]


@dataclass
class Problem:
    args: list[str]
    exit_code: int
    words: str  # the error line must contain these
    env: dict[str, str] = field(default_factory=dict)


PROBLEMS = {
    "bad role": Problem(
        ["keys", "create", "ci", "--role", "boss"],
        2,
        "'boss' is not one of 'admin', 'developer', 'viewer', 'service'",
    ),
    "bad tenant name": Problem(["keys", "create", "ci", "--tenant", "no spaces"], 1, "tenant must"),
    "unknown model": Problem(["models", "show", "nope", *SERVER], 1, "model 'nope' not found"),
    "unknown endpoint": Problem(["predict", "nope", "--json", '{"amount": 1}', *SERVER], 1, "nope"),
    "record missing a field": Problem(
        ["predict", "fraud", "--json", '{"amount": 1}', *SERVER], 1, "card_age_days"
    ),
    "alias to a missing version": Problem(
        ["alias", "set", "fraud", "champion", "9", *SERVER], 1, "has no version 9"
    ),
    "version zero": Problem(["alias", "set", "fraud", "champion", "0", *SERVER], 2, "VERSION"),
    "revoke an unknown key": Problem(
        ["keys", "revoke", "0123456789abcdef", *SERVER], 1, "key '0123456789abcdef' not found"
    ),
    "malformed --json": Problem(["predict", "fraud", "--json", "{amount: 1", *SERVER], 2, "JSON"),
    "malformed @file": Problem(["predict", "fraud", "--json", "@bad.json"], 2, "not valid JSON"),
    "binary @file": Problem(["predict", "fraud", "--json", "@binary.json"], 2, "not valid JSON"),
    "missing @file": Problem(
        ["predict", "fraud", "--json", "@missing.json"],
        1,
        "No such file or directory: 'missing.json'",
    ),
    "malformed stdin": Problem(["predict", "fraud", "--json", "-"], 2, "not valid JSON"),
    "unreachable server": Problem(
        ["models", "list", "--url", DEAD, "--api-key", "{key}"],
        1,
        f"cannot reach ailayer at {DEAD}",
    ),
    "no API key at all": Problem(["models", "list", "--url", "{url}"], 1, "no API key"),
    "wrong API key": Problem(
        ["models", "list", "--url", "{url}", "--api-key", "ail_0123456789abcdef_" + "x" * 32],
        1,
        "invalid API key",
    ),
    "role may not": Problem(
        ["keys", "list", "--url", "{url}", "--api-key", "{viewer}"], 1, "'viewer' may not"
    ),
    "setting that does not parse": Problem(
        ["models", "list", *SERVER], 1, "invalid setting port", env={"AILAYER_PORT": "abc"}
    ),
}


@pytest.mark.parametrize("problem", PROBLEMS)
def test_each_problem_exits_with_one_clear_line(problem, live, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    case = PROBLEMS[problem]
    (tmp_path / "bad.json").write_text('{"amount": ')
    (tmp_path / "binary.json").write_bytes(b"\xff\xfe\x00")
    for name, value in case.env.items():
        monkeypatch.setenv(name, value)
    values = {"{url}": live.url, "{key}": live.key, "{dead}": str(free_port())}
    if "{viewer}" in case.args:
        values["{viewer}"] = create_key("viewer", "viewer", "acme")["key"]

    def fill(text: str) -> str:
        for name, value in values.items():
            text = text.replace(name, value)
        return text

    result = run(*map(fill, case.args), input="{not json")
    assert_one_clear_error(result, case.exit_code, fill(case.words))
