"""``ailayer experiment`` and the SDK's ``experiment`` against a live server: variants
``a`` and ``b`` in the real log give a table per variant and the verdict, ``--json`` the
API's body, and one clear line for a bad option or an unknown control."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from ailayer import InvalidInput
from ailayer.api import create_app
from tests.support.api import Api, make_api
from tests.support.cli import assert_one_clear_error, ok, run
from tests.support.experiment_log import log_variants
from tests.support.sdk import CLIENTS, Awaiting, drive
from tests.support.services import live_server


@pytest.fixture
def served(services, monkeypatch, tmp_path) -> Iterator[tuple[Api, str]]:  # type: ignore[no-untyped-def]
    """An A/B experiment logged for a tenant, behind a live server the CLI is told of."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AILAYER_HOME", str(services.settings.home))
    api = make_api(services)
    log_variants(services, api.tenant_id, datetime.now(UTC))
    with live_server(create_app(services)) as url:
        monkeypatch.setenv("AILAYER_URL", url)
        yield api, url
    api.client.close()


def test_table_and_verdict(served) -> None:  # type: ignore[no-untyped-def]
    api, _ = served
    key = ["--api-key", api.keys["viewer"]]
    out = ok("experiment", "fraud", "--metric", "conversion", "--effect", "0.15", *key).stdout
    assert "fraud: conversion, control a, effect 0.15, alpha 0.05, power 0.8" in out
    rows = {line.split("│")[1].strip(): line for line in out.splitlines() if "│" in line}
    assert "control" in rows["a"] and "v1" in rows["a"] and "600" in rows["a"]
    assert "v2" in rows["b"] and " of " in rows["b"]
    assert "b better than a" in out
    early = ok("experiment", "fraud", "--metric", "mean", "--effect", "0.01", *key).stdout
    assert "not enough data: " in early and " needed per variant" in early
    body = json.loads(
        ok("experiment", "fraud", "--metric", "accuracy", "--effect", "0.2", "--json", *key).stdout
    )
    assert body["metric"] == "accuracy" and [v["name"] for v in body["variants"]] == ["a", "b"]
    assert body["comparisons"][0]["test"] == "two-proportion z-test"


def test_bad_options_are_one_clear_line(served) -> None:  # type: ignore[no-untyped-def]
    api, _ = served
    key = ["--api-key", api.keys["viewer"]]
    base = ["experiment", "fraud", "--metric", "conversion", "--effect"]
    assert_one_clear_error(run(*base, "0.1", "--control", "z", *key), 1, "control")
    assert_one_clear_error(run(*base, "0", *key), 1, "effect")
    assert_one_clear_error(run(*base, "0.1", "--alpha", "0.9", *key), 1, "alpha")
    assert_one_clear_error(run(*base, "0.1", "--start", "yesterday", *key), 1, "--start")
    wrong = run("experiment", "fraud", "--metric", "median", "--effect", "0.1", *key)
    assert wrong.exit_code == 2 and "median" in wrong.stderr


@pytest.mark.parametrize("cls", CLIENTS)
def test_sdk(cls, served) -> None:  # type: ignore[no-untyped-def]
    api, url = served
    end = datetime.now(UTC) + timedelta(minutes=1)

    async def scenario(client: Awaiting) -> tuple:
        found = await client.experiment("fraud", "conversion", 0.15, control="b", end=end)
        with pytest.raises(InvalidInput) as raised:
            await client.experiment("fraud", "conversion", 0.15, power=1.0)
        return found, raised.value

    found, error = drive(cls, url, api.keys["viewer"], scenario)
    assert found["control"] == "b" and found["comparisons"][0]["variant"] == "a"
    assert found["comparisons"][0]["verdict"] == "worse"
    assert error.field == "power"
