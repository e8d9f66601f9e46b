"""``ailayer drift``, ``report`` and ``reference``: through a live server's API for the
key's tenant (``reference --endpoint`` on the configured stores), a table with drifted
features marked, one explanation when there is too little traffic to judge, and one
clear line for an unknown endpoint, a missing reference or a bad option."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from ailayer.api import create_app
from ailayer.cli.up import DEMO_EXAMPLE
from ailayer.demo.fraud import train_fraud_model
from tests.support.api import Api, make_api
from tests.support.cli import assert_one_clear_error, ok, run
from tests.support.drift_scenario import predict, rows, shop_model
from tests.support.services import live_server


@pytest.fixture
def served(services, monkeypatch, tmp_path) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """A live server on ``services``; the CLI on the same home, told its URL."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AILAYER_HOME", str(services.settings.home))
    with live_server(create_app(services)) as url:
        monkeypatch.setenv("AILAYER_URL", url)
        yield url


@pytest.fixture
def shop(services, served) -> Iterator[Api]:  # type: ignore[no-untyped-def]
    """The shop model with a stored reference and drifted traffic, behind a live server."""
    api = make_api(services)
    assert api.register("shop", shop_model(), aliases=["champion"]).status_code == 201
    services.drift.references.put(api.tenant_id, "shop", 1, rows(2000, seed=2))
    predict(api, rows(1500, seed=3, drift=True))
    services.prediction_log.flush()
    yield api
    api.client.close()


def key(api: Api, role: str = "viewer") -> list[str]:
    return ["--api-key", api.keys[role]]


def test_drift_prints_a_table_with_the_drifted_features(shop) -> None:  # type: ignore[no-untyped-def]
    out = ok("drift", "shop", *key(shop)).stdout
    assert "shop v1: 1,500 predictions" in out
    lines = {line.split("│")[1].strip(): line for line in out.splitlines() if "│" in line}
    assert "DRIFT" in lines["amount"] and "DRIFT" in lines["plan"]
    assert "ok" in lines["age"] and "DRIFT" not in lines["age"]
    assert "drifted features: 33% → no dataset drift" in out


def test_drift_json(shop) -> None:  # type: ignore[no-untyped-def]
    body = json.loads(ok("drift", "shop", "--json", *key(shop)).stdout)
    [item] = body["versions"]
    assert item["report"]["drifted_features"] == ["amount", "plan"]


def test_drift_unknown_endpoint_and_bad_times(shop) -> None:  # type: ignore[no-untyped-def]
    assert_one_clear_error(run("drift", "nope", *key(shop)), 1, "unknown endpoint 'nope'")
    bad = run("drift", "shop", "--start", "yesterday", *key(shop))
    assert_one_clear_error(bad, 1, "--start: not an ISO 8601 time")
    denied = run("drift", "shop", *key(shop, "service"))
    assert_one_clear_error(denied, 1, "may not monitoring:read")


def test_drift_without_a_reference(shop) -> None:  # type: ignore[no-untyped-def]
    assert shop.register("bare", shop_model(), aliases=["champion"]).status_code == 201
    predict(shop, rows(50, seed=8), endpoint="bare")
    shop.services.prediction_log.flush()
    result = run("drift", "bare", *key(shop))
    assert_one_clear_error(result, 1, "no reference profile for bare v1")


def test_report_writes_a_self_contained_file(shop, tmp_path) -> None:  # type: ignore[no-untyped-def]
    target = tmp_path / "out" / "shop.html"
    target.parent.mkdir()
    out = ok("report", "shop", "-o", str(target), *key(shop)).stdout
    assert out.startswith(f"wrote {target}")
    page = target.read_text()
    # a chart per feature, the score, four metrics, and the version's lineage graph
    assert page.startswith("<!doctype html>") and page.count("<svg") == 6 + 1 + 4 + 1
    assert_one_clear_error(run("report", "nope", *key(shop)), 1, "unknown endpoint 'nope'")


def test_reference_from_a_file_and_from_the_log(shop, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "reference.csv"
    rows(400, seed=5).to_csv(path, index=False)
    out = ok("reference", "shop", "1", str(path), *key(shop, "developer")).stdout
    assert out.startswith("stored the reference of shop v1: 400 rows, amount (numeric)")
    assert "plan (categorical)" in out and out.strip().endswith("+ score")
    start = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    end = (datetime.now(UTC) + timedelta(minutes=1)).isoformat()
    args = ["--endpoint", "shop", "--start", start, "--end", end, "--json"]
    stored = json.loads(ok("reference", "shop", "1", *args, *key(shop, "developer")).stdout)
    assert (stored["rows"], stored["source"]) == (1500, "log")
    # judged against its own traffic, nothing drifts
    body = json.loads(ok("drift", "shop", "--json", *key(shop)).stdout)
    assert body["versions"][0]["report"]["drifted_features"] == []


def test_reference_errors(shop, tmp_path) -> None:  # type: ignore[no-untyped-def]
    writer = key(shop, "developer")
    assert_one_clear_error(run("reference", "shop", "1", *writer), 1, "give FILE, or --endpoint")
    path = tmp_path / "reference.csv"
    rows(40, seed=5).drop(columns=["plan"]).to_csv(path, index=False)
    lacking = run("reference", "shop", "1", str(path), *writer)
    assert_one_clear_error(lacking, 1, "lack input 'plan'")
    path.write_text("amount\n1.0\n")
    unknown = run("reference", "shop", "7", str(path), *writer)
    assert_one_clear_error(unknown, 1, "has no version 7")
    viewer = run("reference", "shop", "1", str(path), *key(shop))
    assert_one_clear_error(viewer, 1, "may not models:write")


def test_right_after_set_up_drift_says_once_that_there_is_not_enough_traffic(
    services, served
) -> None:  # type: ignore[no-untyped-def]
    """As after `ailayer up` and two predictions: the demo has a reference from its
    lineage (no upload), and drift says once, not per feature, how to get enough traffic."""
    api = make_api(services)
    trained = train_fraud_model(payments=4000)
    services.registry.register(api.tenant_id, "test", trained.version)
    for _ in range(2):
        answer = api.client.post("/v1/predict/fraud", headers=api.headers(), json=DEMO_EXAMPLE)
        assert answer.status_code == 200, answer.text
    services.prediction_log.flush()
    out = ok("drift", "fraud", *key(api)).stdout
    lines = out.strip().splitlines()
    assert lines[0].startswith("fraud v1: 2 predictions")
    assert len(lines) == 2 and "│" not in out, out  # no table of seven unjudged rows
    assert "Not enough traffic yet" in lines[1] and "at least 30" in lines[1]
    assert "`ailayer predict fraud --json" in lines[1]
    assert "non-missing" not in out
    stored = services.drift.references.stored(api.tenant_id, "fraud", 1)
    assert stored is not None and (stored.source, stored.rows) == ("lineage", 3000)
    assert stored.profile.features["__score__"].count == 3000
    api.client.close()
