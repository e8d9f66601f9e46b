"""One absurd prediction input must not break monitoring: finite floats up to ±1.8e308
are logged through the real predict route, and the endpoint's drift (JSON and CLI) and
its HTML report still answer, with the values counted as out of range."""

from __future__ import annotations

import json
import math
import sys

import pytest

from tests.support.api import make_api
from tests.support.cli import ok
from tests.support.drift_scenario import predict, rows, shop_model

EXTREMES = (1.7e308, -1.7e308, sys.float_info.max, 5e-324, -1e200)


@pytest.fixture
def extreme(services, monkeypatch, tmp_path):  # type: ignore[no-untyped-def]
    """The shop model with a stored reference; ordinary traffic, then rows whose amount
    is each of ``EXTREMES`` (one also with a huge age)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AILAYER_HOME", str(services.settings.home))
    api = make_api(services)
    assert api.register("shop", shop_model(), aliases=["champion"]).status_code == 201
    services.drift.references.put(api.tenant_id, "shop", 1, rows(500, seed=2))
    predict(api, rows(300, seed=3))
    odd = rows(len(EXTREMES), seed=4).assign(amount=list(EXTREMES))
    odd.loc[0, "age"] = 1e300
    predict(api, odd)
    services.prediction_log.flush()
    yield api
    api.client.close()


def _finite_numbers(value: object) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_finite_numbers(v) for v in value.values())
    if isinstance(value, list | tuple):
        return all(_finite_numbers(v) for v in value)
    return True


def test_endpoint_drift_answers_and_counts_the_extreme_values(extreme) -> None:  # type: ignore[no-untyped-def]
    response = extreme.client.get("/v1/monitoring/shop/drift", headers=extreme.headers())
    assert response.status_code == 200, response.text
    [item] = response.json()["versions"]
    features = item["report"]["features"]
    amount, age = features["amount"], features["age"]
    assert item["rows"] == 300 + len(EXTREMES)
    assert amount["current_count"] == 300 + len(EXTREMES)
    assert amount["current_out_of_range"] == 4  # all but the subnormal 5e-324
    assert age["current_out_of_range"] == 1 and features["tenure"]["current_out_of_range"] == 0
    assert amount["drifted"] is not None and age["drifted"] is not None
    assert all(v is not None and math.isfinite(v) for v in amount["statistics"].values())
    assert _finite_numbers(item["report"])


def test_endpoint_report_page_answers(extreme) -> None:  # type: ignore[no-untyped-def]
    response = extreme.client.get("/v1/monitoring/shop/report", headers=extreme.headers())
    assert response.status_code == 200, response.text
    page = response.text
    assert "nan" not in page.lower().replace("nan;", "") and "inf" not in page.split("<body>")[1]
    assert "4 out of range" in page


def test_cli_drift_answers(extreme) -> None:  # type: ignore[no-untyped-def]
    from ailayer.api import create_app
    from tests.support.services import live_server

    with live_server(create_app(extreme.services)) as url:
        key = extreme.keys["viewer"]
        body = json.loads(ok("drift", "shop", "--json", "--url", url, "--api-key", key).stdout)
        table = ok("drift", "shop", "--url", url, "--api-key", key).stdout
    [item] = body["versions"]
    assert item["report"]["features"]["amount"]["current_out_of_range"] == 4
    assert "shop v1: 305 predictions" in table and "out of range" in table


def test_performance_windows_of_extreme_predictions_stay_finite(services) -> None:  # type: ignore[no-untyped-def]
    """Logged predictions, scores and labels near ±1.8e308: the window's mean score (a
    DuckDB average) and the regression metrics are numbers, not inf or NaN."""
    from datetime import timedelta

    from ailayer.monitoring.log import Feedback
    from tests.support.prediction_log import HOUR0, log_requests

    tenant = services.keys.create_tenant("acme")
    moment = HOUR0 + timedelta(minutes=5)
    scored = [(moment, True, value, 1.0) for value in (1.7e308, 1.7e308, 0.5, -1.7e308)]
    regression = [(moment, value, None, 1.0) for value in (1.7e308, -1.7e308, 3.0, 5e-324)]
    log_requests(services, tenant, scored, version=1)
    ids = log_requests(services, tenant, regression, version=2)
    services.prediction_log.flush()
    truths = [-1.7e308, 1.7e308, 2.0, 0.0]
    services.feedback.submit(tenant, [Feedback(i, t) for i, t in zip(ids, truths, strict=True)])
    report = services.performance.report(tenant, "fraud", "hour", HOUR0, HOUR0 + timedelta(hours=1))
    json.dumps(report, allow_nan=False, default=str)
    assert _finite_numbers(report)
    first, second = report["windows"]
    assert first["mean_score"] == pytest.approx(1.7e308 / 4)
    assert second["task"] == "regression" and second["metrics"]["mae"] > 1e308


def test_a_window_of_centuries_is_refused_not_read_day_by_day(api) -> None:  # type: ignore[no-untyped-def]
    """The fuzzer's ``start=0309-04-28`` held a server for minutes, reading day folders."""
    import time

    headers = api.headers("viewer")
    for route in ("performance", "drift", "fairness?attribute=amount&", "concept"):
        path, _, query = route.partition("?")
        started = time.monotonic()
        answer = api.client.get(
            f"/v1/monitoring/fraud/{path}?{query}start=0309-04-28T00:00:00Z", headers=headers
        )
        assert answer.status_code == 422, answer.text
        assert "at most 366 days" in answer.json()["error"]["message"]
        assert time.monotonic() - started < 2


def test_a_reference_window_needs_only_one_bound(api) -> None:  # type: ignore[no-untyped-def]
    answer = api.client.get(
        "/v1/monitoring/fraud/drift?reference_end=2026-01-01T00:00:00Z", headers=api.headers()
    )
    assert answer.status_code in (200, 404), answer.text
