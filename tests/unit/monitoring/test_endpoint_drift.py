"""Drift of a live endpoint: traffic through the real app, logged, judged against the
version's reference; drift injected in some features is flagged and nowhere else, and
the numbers are ``DataDriftDetector``'s on the same rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from ailayer.core.errors import InvalidInput, NotFound
from ailayer.monitoring import DataDriftDetector
from ailayer.monitoring.endpoint.drift import EndpointDrift
from ailayer.monitoring.endpoint.references import SCORE
from ailayer.monitoring.log.layout import json_pointer
from tests.support.drift_scenario import CATEGORICAL, predict, rows, scores_of, shop_model
from tests.support.services import TinyModel


def detector_report(model: TinyModel, reference: pd.DataFrame, current, scores):  # type: ignore[no-untyped-def]
    detector = DataDriftDetector(categorical=CATEGORICAL, prediction=SCORE)
    detector.fit(reference.assign(**{SCORE: scores_of(model, reference)}))
    return detector.report(current.assign(**{SCORE: scores}))


def test_flags_the_drifted_features_only(api, live) -> None:  # type: ignore[no-untyped-def]
    [item] = [v.to_dict() for v in api.services.drift.report(api.tenant_id, "shop")]
    assert (item["model"], item["version"], item["rows"]) == ("shop", 1, 1500)
    assert item["report"]["drifted_features"] == ["amount", "plan"]
    assert item["report"]["drift_share"] == pytest.approx(2 / 6)
    assert item["reference"]["source"] == "upload" and item["reference"]["score"]
    assert item["report"]["prediction"]["name"] == "score"
    assert item["reason"] is None


def test_numbers_equal_the_detector_on_the_same_rows(api, shop, live) -> None:  # type: ignore[no-untyped-def]
    reference, current, scores = live
    expected = detector_report(shop, reference, current, scores)
    [item] = [v.to_dict() for v in api.services.drift.report(api.tenant_id, "shop")]
    got = item["report"]
    for feature in expected.features:
        mine = got["features"][feature.name]
        assert mine["method"] == feature.method and mine["drifted"] == feature.drifted
        assert mine["statistic"] == pytest.approx(feature.statistic, abs=1e-12)
        for name, value in feature.statistics.items():
            assert mine["statistics"][name] == pytest.approx(value, abs=1e-12), name
    assert got["prediction"]["statistic"] == pytest.approx(expected.prediction.statistic, abs=1e-12)


def test_chunks_merge_to_the_same_report(api, live) -> None:  # type: ignore[no-untyped-def]
    services = api.services
    chunked = EndpointDrift(
        services.prediction_log,
        services.registry,
        services.endpoints,
        services.drift.references,
        chunk_rows=97,
    )
    [whole] = [v.to_dict() for v in services.drift.report(api.tenant_id, "shop")]
    [parts] = [v.to_dict() for v in chunked.report(api.tenant_id, "shop")]
    for name, feature in whole["report"]["features"].items():
        assert parts["report"]["features"][name]["statistics"] == pytest.approx(
            feature["statistics"], abs=1e-12
        )


def test_an_empty_window_is_reported_not_raised(api, live) -> None:  # type: ignore[no-untyped-def]
    end = datetime.now(UTC) - timedelta(days=10)
    window = api.services.drift.report(api.tenant_id, "shop", end - timedelta(hours=1), end)
    [item] = [v.to_dict() for v in window]
    assert item["rows"] == 0 and "no predictions" in item["reason"]
    assert item["report"]["drift_share"] is None and item["report"]["dataset_drift"] is None
    assert item["report"]["reason"]


def test_versions_are_reported_apart(api, shop, live) -> None:  # type: ignore[no-untyped-def]
    assert api.register("shop", shop, aliases=["champion"]).status_code == 201
    api.services.predictor.resolver.cache.clear()  # serve v2 now, not within a second
    predict(api, rows(300, seed=9))
    api.services.prediction_log.flush()
    found = [v.to_dict() for v in api.services.drift.report(api.tenant_id, "shop")]
    assert [(i["version"], i["rows"]) for i in found] == [(1, 1500), (2, 300)]
    assert found[1]["reference"] is None and "no reference profile" in found[1]["reason"]
    assert found[1]["report"]["features"] == {}


def test_unknown_endpoint_and_bad_windows(api, live) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(NotFound, match="unknown endpoint 'nope'"):
        api.services.drift.report(api.tenant_id, "nope")
    now = datetime.now(UTC)
    with pytest.raises(InvalidInput, match="start must be before end"):
        api.services.drift.report(api.tenant_id, "shop", now, now - timedelta(hours=1))
    with pytest.raises(InvalidInput, match="reference_start must be before") as raised:
        api.services.drift.report(api.tenant_id, "shop", reference_start=now + timedelta(days=1))
    assert raised.value.field == "reference_start"  # one bound is enough; the end is now


def test_a_log_window_as_reference(api, shop) -> None:  # type: ignore[no-untyped-def]
    start = datetime.now(UTC) - timedelta(minutes=1)
    baseline = rows(1200, seed=4)
    scores = predict(api, baseline)
    api.services.prediction_log.flush()
    end = datetime.now(UTC) + timedelta(seconds=1)
    drift = EndpointDrift(
        api.services.prediction_log,
        api.services.registry,
        api.services.endpoints,
        api.services.drift.references,
        chunk_rows=250,
    )
    stored = drift.store_log_reference(api.tenant_id, "shop", "shop", 1, start, end)
    assert stored.rows == 1200 and stored.source == "log"
    expected = DataDriftDetector(categorical=CATEGORICAL).fit(baseline.assign(**{SCORE: scores}))
    for name, summary in expected.reference_.features.items():
        mine = stored.profile.features[name]
        if summary.kind == "numeric":
            np.testing.assert_array_equal(mine.edges, summary.edges)
            np.testing.assert_array_equal(mine.hist, summary.hist)
            assert mine.mean == pytest.approx(summary.mean, rel=1e-12)
        else:
            assert mine.counts == summary.counts
    reloaded = api.services.drift.references.stored(api.tenant_id, "shop", 1)
    assert reloaded is not None and reloaded.source == "log" and reloaded.rows == 1200


def test_pii_inputs_are_left_out(api) -> None:  # type: ignore[no-untyped-def]
    model = shop_model()
    assert (
        api.register("shop", model, aliases=["champion"], tags={"pii": "plan"}).status_code == 201
    )
    stored = api.services.drift.references.put(api.tenant_id, "shop", 1, rows(500, seed=5))
    assert "plan" not in stored.profile.features and SCORE in stored.profile.features


@pytest.mark.parametrize(
    ("name", "pointer"), [("a/b", "/a~1b"), ("t~x", "/t~0x"), ("a.b [0]", "/a.b [0]")]
)
def test_json_pointers_escape_key_names(name: str, pointer: str) -> None:
    assert json_pointer(name) == pointer
