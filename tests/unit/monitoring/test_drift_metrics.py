"""Drift scores on ``/metrics``: the latest report per endpoint and model version, exported
only with ``metrics_per_tenant`` (endpoint and feature names are tenant data), and equal
to what the drift route answered."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from ailayer.bootstrap import build
from ailayer.monitoring.drift import DriftReport
from ailayer.monitoring.endpoint.drift import LatestDrift, VersionDrift
from tests.support.api import Api, make_api
from tests.support.drift_scenario import predict, rows, shop_model
from tests.support.metrics import scrape

DRIFT_SERIES = ("ailayer_drift_", "ailayer_prediction_drift_")


def drifted_shop(api: Api) -> dict:
    """The shop model, a stored reference, drifted traffic; the drift route's answer."""
    assert api.register("shop", shop_model(), aliases=["champion"]).status_code == 201
    api.services.drift.references.put(api.tenant_id, "shop", 1, rows(2000, seed=2))
    predict(api, rows(1500, seed=3, drift=True))
    api.services.prediction_log.flush()
    response = api.client.get("/v1/monitoring/shop/drift", headers=api.headers("viewer"))
    assert response.status_code == 200, response.text
    [version] = response.json()["versions"]
    return version


@pytest.fixture
def per_tenant(make_settings) -> Iterator[Api]:  # type: ignore[no-untyped-def]
    services = build(make_settings(metrics_per_tenant=True))
    api = make_api(services)
    try:
        with api.client:
            yield api
    finally:
        services.close()


def drift_samples(samples: dict) -> dict:
    return {key: value for key, value in samples.items() if key[0].startswith(DRIFT_SERIES)}


def test_absent_by_default(api) -> None:  # type: ignore[no-untyped-def]
    version = drifted_shop(api)
    assert version["report"]["drifted_features"] == ["amount", "plan"]
    assert api.services.drift.latest.items()  # remembered, but not exported
    text = api.client.get("/metrics", headers=api.headers("viewer")).text
    assert drift_samples(scrape(api.client, api.keys["viewer"])) == {}
    assert "ailayer_drift" not in text and "shop" not in text


def test_latest_scores_with_metrics_per_tenant(per_tenant) -> None:  # type: ignore[no-untyped-def]
    api = per_tenant
    assert (
        drift_samples(scrape(api.client, api.keys["viewer"])) == {}
    )  # nothing computed yet: no series
    version = drifted_shop(api)
    samples = scrape(api.client, api.keys["viewer"])  # parsed by prometheus_client's text parser
    keys = (("endpoint", "shop"), ("model", "shop"), ("tenant", api.tenant_id), ("version", "1"))
    report = version["report"]
    assert samples[("ailayer_drift_share", keys)] == pytest.approx(report["drift_share"], abs=0)
    judged = [f for f in report["features"].values() if f["drifted"] is not None]
    assert len(judged) == 6
    for feature in judged:
        labels = tuple(sorted((*keys, ("feature", feature["name"]), ("method", feature["method"]))))
        assert samples[("ailayer_drift_score", labels)] == feature["statistic"]
        assert samples[("ailayer_drift_detected", labels)] == float(feature["drifted"])
        p_value = samples.get(("ailayer_drift_p_value", labels))
        assert p_value == feature["p_value"]
    detected = {
        dict(labels)["feature"]
        for (name, labels), value in samples.items()
        if name == "ailayer_drift_detected" and value == 1.0
    }
    assert detected == {"amount", "plan"}
    score = report["prediction"]
    labels = tuple(sorted((*keys, ("method", score["method"]))))
    assert samples[("ailayer_prediction_drift_score", labels)] == score["statistic"]
    assert samples[("ailayer_prediction_drift_detected", labels)] == float(score["drifted"])
    end = datetime.fromisoformat(version["end"])
    assert samples[("ailayer_drift_window_end_timestamp_seconds", keys)] == end.timestamp()


def test_a_later_window_replaces_the_earlier(per_tenant) -> None:  # type: ignore[no-untyped-def]
    api = per_tenant
    drifted_shop(api)
    later = datetime.now(UTC) + timedelta(days=3)  # an empty window: nothing judged
    url = f"/v1/monitoring/shop/drift?end={later.isoformat().replace('+00:00', 'Z')}"
    assert api.client.get(url, headers=api.headers("viewer")).status_code == 200
    samples = drift_samples(scrape(api.client, api.keys["viewer"]))
    assert {name for name, _ in samples} == {"ailayer_drift_window_end_timestamp_seconds"}
    [(_, value)] = samples.items()
    assert value == later.timestamp()


def test_a_log_reference_window_is_not_exported(per_tenant) -> None:  # type: ignore[no-untyped-def]
    api = per_tenant
    drifted_shop(api)
    before = drift_samples(scrape(api.client, api.keys["viewer"]))
    now = datetime.now(UTC)
    window = {"reference_start": now - timedelta(hours=1), "reference_end": now}
    api.services.drift.report(api.tenant_id, "shop", **window)  # same log as reference
    assert drift_samples(scrape(api.client, api.keys["viewer"])) == before


def test_latest_is_bounded() -> None:
    latest = LatestDrift(max_keys=3)
    end = datetime(2026, 1, 1, tzinfo=UTC)
    report = DriftReport((), None, None, 0.5, 0, 0)
    for version in range(1, 6):
        item = VersionDrift("m", version, end, end, 0, report, None, None)
        latest.put("t", "e", item)
    latest.put("t", "e", VersionDrift("m", 3, end, end, 0, report, None, None))
    assert [key[3] for key, _ in latest.items()] == [4, 5, 3]
