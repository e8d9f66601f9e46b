"""``ailayer ranking``, ``ailayer experiment --metric ndcg@10`` and the SDK's ``ranking``
against a live server: recommenders ``a`` and ``b`` in the real log give a row per
version, ``--json`` the API's body, a verdict on NDCG@10, one clear line for a bad k."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

import ailayer
from ailayer.api import create_app
from tests.support.api import Api, make_api
from tests.support.cli import ok, run
from tests.support.ranking_log import N, log_ab
from tests.support.services import live_server


@pytest.fixture
def served(services, monkeypatch, tmp_path) -> Iterator[tuple[Api, str]]:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AILAYER_HOME", str(services.settings.home))
    api = make_api(services)
    log_ab(services, api.tenant_id, datetime.now(UTC))
    with live_server(create_app(services)) as url:
        monkeypatch.setenv("AILAYER_URL", url)
        yield api, url
    api.client.close()


def test_ranking_table_json_and_the_ndcg_verdict(served) -> None:  # type: ignore[no-untyped-def]
    api, _ = served
    key = ["--api-key", api.keys["viewer"]]
    out = ok("ranking", "fraud", "-k", "5", "--window", "hour", *key).stdout
    assert "fraud: ranking at k=5, per hour" in out and "ndcg@5" in out
    assert "fraud v1" in out and "fraud v2" in out
    body = json.loads(ok("ranking", "fraud", "--json", *key).stdout)
    assert body["k"] == 10 and body["window"] == "day"
    assert sum(w["predictions"] for w in body["windows"]) == N
    verdict = ok("experiment", "fraud", "--metric", "ndcg@10", "--effect", "0.1", *key).stdout
    assert "b better than a" in verdict
    bad = run("ranking", "fraud", "-k", "0", *key)
    assert bad.exit_code == 1 and "k" in bad.stderr
    wrong = run("experiment", "fraud", "--metric", "ndcg@0", "--effect", "0.1", *key)
    assert wrong.exit_code == 2 and "ndcg@0" in wrong.stderr


def test_the_sdk_reads_the_same_report(served) -> None:  # type: ignore[no-untyped-def]
    api, url = served
    with ailayer.Client(url, api.keys["viewer"]) as client:
        report = client.ranking("fraud", 3, window="hour")
    assert report["k"] == 3 and {w["version"] for w in report["windows"]} == {1, 2}
    assert all("ndcg@3" in w and "coverage@3" in w for w in report["windows"])
