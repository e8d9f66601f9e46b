"""``ailayer apply``, ``materialize`` and ``features list|show|versions``: the plan before it
is applied, materialization in-process for the key's tenant, and every failure as one
clear line without a traceback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ailayer.api import create_app
from ailayer.bootstrap import Services
from tests.support import feature_repo
from tests.support.cli import assert_one_clear_error, ok, run
from tests.support.services import live_server

DEFINITIONS = """
from datetime import timedelta
from ailayer.features import Entity, Feature, FeatureService, FeatureView, ParquetSource

customer = Entity("customer", {{"customer_id": int}})
customer_stats = FeatureView(
    "customer_stats",
    entities=[customer],
    features=[Feature("avg_amount", float, default=0.0), Feature("txn_count", {count_type})],
    source=ParquetSource("customer_stats.parquet", timestamp_field="ts"),
    ttl=timedelta(hours={ttl_hours}),
    owner="risk",
)
spend = FeatureService("spend", ["customer_stats:avg_amount", "customer_stats:txn_count"])
"""


def definitions(path: Path, ttl_hours: int = 24, count_type: str = "int") -> str:
    path.write_text(DEFINITIONS.format(ttl_hours=ttl_hours, count_type=count_type))
    return str(path)


@dataclass
class Live:
    url: str
    keys: dict[str, str]
    services: Services
    tenant: str
    defs: Path

    def args(self, *args: str, role: str = "admin") -> list[str]:
        return [*args, "--url", self.url, "--api-key", self.keys[role]]

    def local(self, *args: str, role: str = "admin") -> list[str]:
        """For in-process commands (materialize): no --url."""
        return [*args, "--api-key", self.keys[role]]


@pytest.fixture
def live(tmp_path, monkeypatch, services) -> Iterator[Live]:  # type: ignore[no-untyped-def]
    """A live server, and the CLI on the same home (so `materialize` sees the same stores)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AILAYER_HOME", str(services.settings.home))
    tenant = services.keys.create_tenant("acme")
    keys = {r: services.keys.create_key(tenant, f"{r}-key", r).key for r in ("admin", "viewer")}
    with live_server(create_app(services)) as url:
        yield Live(url, keys, services, tenant, tmp_path / "defs.py")


def applied(live: Live) -> None:
    ok(*live.args("apply", definitions(live.defs)))


# --- apply ----------------------------------------------------------------------------------


def test_apply_shows_the_plan_then_applies_it(live) -> None:  # type: ignore[no-untyped-def]
    path = definitions(live.defs)
    dry = ok(*live.args("apply", path, "--dry-run")).stdout
    assert dry.splitlines() == [
        "Plan: 3 added, 0 changed, 0 removed, 0 unchanged.",
        "  + entity customer (v1)",
        "  + feature_service spend (v1)",
        "  + feature_view customer_stats (v1)",
        "Dry run: nothing applied.",
    ]
    assert live.services.features.list(live.tenant) == []

    done = ok(*live.args("apply", path)).stdout
    assert done.splitlines()[-1] == "Applied: 3 added, 0 changed, 0 removed."
    assert len(live.services.features.list(live.tenant)) == 3
    again = ok(*live.args("apply", path)).stdout
    assert again.strip() == "No changes: 3 definition(s) up to date."

    changed = ok(*live.args("apply", definitions(live.defs, ttl_hours=1))).stdout
    assert "  ~ feature_view customer_stats (v1)" in changed
    assert "      ttl_seconds: 86400.0 → 3600.0" in changed
    assert changed.splitlines()[-1] == "Applied: 0 added, 1 changed, 0 removed."


def test_apply_json_says_whether_it_applied(live) -> None:  # type: ignore[no-untyped-def]
    path = definitions(live.defs)
    dry = json.loads(ok(*live.args("apply", path, "--dry-run", "--json")).stdout)
    assert dry["applied"] is False and len(dry["added"]) == 3
    done = json.loads(ok(*live.args("apply", path, "--json")).stdout)
    assert done["applied"] is True and len(done["added"]) == 3
    noop = json.loads(ok(*live.args("apply", path, "--json")).stdout)
    assert noop["applied"] is False and len(noop["unchanged"]) == 3


def test_apply_removes_what_the_file_no_longer_defines(live) -> None:  # type: ignore[no-untyped-def]
    applied(live)
    live.defs.write_text(DEFINITIONS.format(ttl_hours=24, count_type="int").split("spend = ")[0])
    out = ok(*live.args("apply", str(live.defs))).stdout
    assert "  - feature_service spend (v1)" in out


# --- materialize ----------------------------------------------------------------------------


def write_fresh_stats(live: Live) -> None:
    hours = (datetime.now(UTC) - feature_repo.T0) / timedelta(hours=1)
    root = live.services.offline.tenant_root(live.tenant)
    feature_repo.write_customer_stats(
        root, [(1, hours - 3, 10.0, 4), (1, hours - 1, 20.0, 5), (2, hours - 2, 7.0, 1)]
    )


def online(live: Live, customer_id: int) -> dict:
    [row] = live.services.feature_server.get_online_features(
        live.tenant, "spend", [{"customer_id": customer_id}]
    )
    return row


def test_materialize_a_window_with_a_progress_bar(live) -> None:  # type: ignore[no-untyped-def]
    applied(live)
    write_fresh_stats(live)
    start = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    end = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    out = ok(*live.local("materialize", "--start", start, "--end", end)).stdout
    assert "customer_stats v1" in out and "2/2" in out  # the bar: view, version, rows
    assert "materialized" in out
    assert online(live, 1) == {"customer_id": 1, "avg_amount": 20.0, "txn_count": 5}


def test_materialize_incremental_json_resumes_from_the_watermark(live) -> None:  # type: ignore[no-untyped-def]
    applied(live)
    write_fresh_stats(live)
    [first] = json.loads(ok(*live.local("materialize", "--incremental", "--json")).stdout)
    assert (first["view"], first["version"], first["rows"], first["start"]) == (
        "customer_stats",
        1,
        2,
        None,
    )
    assert online(live, 2)["avg_amount"] == 7.0
    [second] = json.loads(
        ok(*live.local("materialize", "customer_stats", "--incremental", "--json")).stdout
    )
    assert second["start"] == first["end"] and second["rows"] == 0


def test_materialize_takes_the_key_from_the_environment(live, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    applied(live)
    write_fresh_stats(live)
    monkeypatch.setenv("AILAYER_API_KEY", live.keys["admin"])
    runs = json.loads(ok("materialize", "--incremental", "--json").stdout)
    assert [r["rows"] for r in runs] == [2]


# --- features list | show | versions --------------------------------------------------------


def test_features_list_show_and_versions(live) -> None:  # type: ignore[no-untyped-def]
    applied(live)
    ok(*live.args("apply", definitions(live.defs, ttl_hours=2)))
    table = ok(*live.args("features", "list")).stdout
    for word in ("customer_stats", "spend", "entity", "avg_amount"):
        assert word in table
    views = json.loads(
        ok(*live.args("features", "list", "--kind", "feature_view", "--json")).stdout
    )
    assert [(v["name"], v["revision"]) for v in views] == [("customer_stats", 2)]

    shown = ok(*live.args("features", "show", "feature_view", "customer_stats")).stdout
    assert shown.startswith("feature_view customer_stats v1 (revision 2,")
    assert "  entities: customer (customer_id: int64)" in shown
    assert "  source: parquet customer_stats.parquet (time: ts)" in shown
    assert "txn_count" in shown and "int64" in shown
    service = ok(*live.args("features", "show", "feature_service", "spend")).stdout
    assert "  features: customer_stats:avg_amount, customer_stats:txn_count" in service
    as_json = json.loads(ok(*live.args("features", "show", "entity", "customer", "--json")).stdout)
    assert as_json["spec"]["join_keys"] == {"customer_id": "int64"}

    history = ok(*live.args("features", "versions", "feature_view", "customer_stats")).stdout
    assert "added" in history and "changed" in history
    revisions = json.loads(
        ok(*live.args("features", "versions", "feature_view", "customer_stats", "--json")).stdout
    )
    assert [r["spec"]["ttl_seconds"] for r in revisions] == [86400.0, 7200.0]


# --- failures: one clear line, no traceback -------------------------------------------------

PROBLEMS = {
    "definitions that do not parse": (["apply", "{broken}"], 1, "broken.py:2: invalid syntax"),
    "definitions that raise": (["apply", "{raises}"], 1, "raises.py:2: ZeroDivisionError"),
    "no definitions in the file": (["apply", "{empty}"], 1, "no feature definitions found"),
    "missing definitions file": (["apply", "nope.py"], 1, "'nope.py' does not exist"),
    "incompatible dtype change": (["apply", "{float_count}"], 1, "declare a new version"),
    "viewer may not apply": (["apply", "{shorter_ttl}", "--viewer"], 1, "'viewer' may not"),
    "materialize without a window": (["materialize"], 1, "give --start and --end"),
    "materialize with both": (
        ["materialize", "--incremental", "--start", "2025-01-01"],
        1,
        "not both",
    ),
    "materialize with half a window": (["materialize", "--start", "2025-01-01"], 1, "--end"),
    "materialize a bad time": (
        ["materialize", "--start", "soon", "--end", "2025-01-01"],
        1,
        "--start: not an ISO 8601 time: 'soon'",
    ),
    "materialize backwards": (
        ["materialize", "--start", "2025-02-01", "--end", "2025-01-01"],
        1,
        "start must not be after end",
    ),
    "materialize an unknown view": (
        ["materialize", "nope", "--incremental"],
        1,
        "unknown feature views: nope",
    ),
    "viewer may not materialize": (["materialize", "--incremental", "--viewer"], 1, "may not"),
    "materialize with a wrong key": (
        ["materialize", "--incremental", "--api-key", "ail_0123456789abcdef_" + "x" * 32],
        1,
        "invalid API key",
    ),
    "show an unknown definition": (
        ["features", "show", "feature_view", "nope"],
        1,
        "no feature_view named 'nope'",
    ),
    "show a bad kind": (["features", "show", "view", "nope"], 2, "'view' is not one of"),
    "versions of an unknown definition": (
        ["features", "versions", "entity", "nope"],
        1,
        "no entity named 'nope'",
    ),
    "list with a bad kind": (["features", "list", "--kind", "table"], 2, "'table'"),
}

LOCAL = {"materialize"}  # in-process commands take no --url


@pytest.mark.parametrize("problem", PROBLEMS)
def test_each_problem_exits_with_one_clear_line(problem, live, tmp_path) -> None:  # type: ignore[no-untyped-def]
    applied(live)
    args, exit_code, words = PROBLEMS[problem]
    files = {
        "{broken}": ("broken.py", "x = 1\ndef (:\n"),
        "{raises}": ("raises.py", "import math\nx = 1 / 0\n"),
        "{empty}": ("empty.py", "x = 1\n"),
        "{float_count}": ("float_count.py", DEFINITIONS.format(ttl_hours=24, count_type="float")),
        "{shorter_ttl}": ("shorter_ttl.py", DEFINITIONS.format(ttl_hours=1, count_type="int")),
    }
    for marker, (name, text) in files.items():
        if text is not None:
            (tmp_path / name).write_text(text)
        args = [name if a == marker else a for a in args]
    role = "viewer" if "--viewer" in args else "admin"
    args = [a for a in args if a != "--viewer"]
    if "--api-key" not in args:
        args = live.local(*args, role=role) if args[0] in LOCAL else live.args(*args, role=role)
    assert_one_clear_error(run(*args), exit_code, words)
