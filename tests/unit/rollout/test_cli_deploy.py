"""``ailayer deploy`` and ``ailayer rollout`` through a live server's API: each kind of
policy from options, status, promote, rollback, history, and one clear error for bad
input."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from ailayer.api import create_app
from tests.support.api import Api, make_api
from tests.support.cli import assert_one_clear_error, ok, run
from tests.support.deployments import two_versions
from tests.support.services import live_server


@pytest.fixture
def shop(services, monkeypatch, tmp_path) -> Iterator[Api]:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AILAYER_HOME", str(services.settings.home))
    api = make_api(services)
    two_versions(api)
    monkeypatch.setenv("AILAYER_API_KEY", api.keys["developer"])
    with live_server(create_app(services)) as url:
        monkeypatch.setenv("AILAYER_URL", url)
        yield api
    api.client.close()


def as_json(*args: str) -> dict:
    return json.loads(ok(*args, "--json").stdout)


def test_deploy_a_single_version_with_a_shadow(shop) -> None:  # type: ignore[no-untyped-def]
    out = ok("deploy", "checkout", "fraud:1", "--shadow", "fraud:2").stdout
    assert "checkout: revision 1, single" in out
    assert "stable fraud v1 100%" in out and "shadow fraud v2 shadow" in out
    status = as_json("rollout", "status", "checkout")
    assert status["shadow"]["shadow"]["sent"] == 0


def test_deploy_a_canary_then_promote_rollback_and_history(shop) -> None:  # type: ignore[no-untyped-def]
    body = as_json(
        "deploy",
        "checkout",
        "fraud:1",
        "--canary",
        "fraud:2",
        "--steps",
        "10,50,100",
        "--step-seconds",
        "30",
        "--min-requests",
        "50",
        "--max-error-rate-increase",
        "0.02",
        "--max-p99-ratio",
        "2",
        "--max-quality-drop",
        "0.05",
        "--sticky-key",
        "user_id",
    )
    policy = body["policy"]
    assert policy["canary"]["steps"] == [10, 50, 100] and policy["sticky_key"] == "user_id"
    assert policy["canary"]["min_requests"] == 50 and policy["canary"]["max_p99_ratio"] == 2
    assert policy["canary"]["max_quality_drop"] == 0.05
    assert "canary fraud v2 50%" in ok("rollout", "promote", "checkout").stdout
    out = ok("rollout", "rollback", "checkout", "--reason", "errors up").stdout
    assert "rolled_back: errors up" in out and "canary fraud v2 0%" in out
    history = as_json("rollout", "history", "checkout")
    assert [h["revision"] for h in history] == [3, 2, 1]
    assert "errors up" in ok("rollout", "history", "checkout", "--wide").stdout


def test_deploy_an_ab_split(shop) -> None:  # type: ignore[no-untyped-def]
    body = as_json("deploy", "checkout", "--ab", "a=fraud:1:70", "--ab", "b=fraud:2:30")
    shares = {v["name"]: v["share"] for v in body["policy"]["variants"]}
    assert (body["policy"]["kind"], shares) == ("ab", {"a": 70, "b": 30})
    status = ok("rollout", "status", "checkout").stdout
    assert "a fraud v1 70%, b fraud v2 30%" in status


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (["deploy", "checkout", "fraud"], 2, "MODEL:VERSION"),
        (["deploy", "checkout", "fraud:1", "--steps", "5,x"], 2, "--steps"),
        (["deploy", "checkout", "fraud:1", "--steps", "5,100"], 2, "only go with --canary"),
        (["deploy", "checkout", "--ab", "a=fraud:1"], 2, "NAME=MODEL:VERSION:SHARE"),
        (["deploy", "checkout", "fraud:1", "--ab", "a=fraud:1:100"], 2, "--ab names every"),
        (["deploy", "checkout"], 2, "give MODEL:VERSION"),
        (["deploy", "checkout", "--ab", "a=fraud:1:60", "--ab", "b=fraud:2:30"], 1, "sum to 100"),
        (["deploy", "checkout", "fraud:9"], 1, "variant 'stable'"),
        (
            ["deploy", "checkout", "fraud:1", "--canary", "fraud:2", "--steps", "5,50"],
            1,
            "end at 100",
        ),
        (["rollout", "status", "nowhere"], 1, "has no deployment"),
    ],
)
def test_bad_input_is_one_clear_error(shop, args, code, words) -> None:  # type: ignore[no-untyped-def]
    assert_one_clear_error(run(*args), code, words)


def test_promoting_a_single_deployment_is_refused(shop) -> None:  # type: ignore[no-untyped-def]
    ok("deploy", "checkout", "fraud:1")
    assert_one_clear_error(run("rollout", "promote", "checkout"), 1, "no canary to promote")
