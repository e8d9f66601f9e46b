"""Performance per version and window equals scikit-learn on the same labelled rows;
feedback joins by prediction id (latest label wins) and reports unknown ids."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from sklearn import metrics as skm
from sklearn.calibration import calibration_curve

from ailayer.core.errors import InvalidInput
from ailayer.monitoring.log import Entry, Feedback
from ailayer.monitoring.log.metrics import binary_metrics, multiclass_metrics
from tests.support.log_records import target
from tests.support.prediction_log import HOUR0, id_at, log_requests


def test_binary_windows_equal_sklearn(services) -> None:  # type: ignore[no-untyped-def]
    tenant = services.keys.create_tenant("acme")
    rng = np.random.default_rng(7)
    windows = []
    for hour in range(3):
        n = 120
        scores = rng.uniform(0, 1, n)
        truth = rng.uniform(0, 1, n) < scores * 0.8 + 0.1
        moments = [HOUR0 + timedelta(hours=hour, seconds=int(s)) for s in rng.uniform(0, 3599, n)]
        latencies = rng.gamma(2.0, 3.0, n)
        rows = [
            (m, bool(s > 0.5), float(s), float(lat))
            for m, s, lat in zip(moments, scores, latencies, strict=True)
        ]
        ids = log_requests(services, tenant, rows)
        windows.append((ids, scores, truth, latencies))
    failures = [
        Entry(
            tenant,
            target(),
            int((HOUR0 + timedelta(minutes=5)).timestamp() * 1e9),
            2.0,
            None,
            None,
            "invalid_input",
        )
    ] * 4
    for failure in failures:
        services.prediction_log.buffer.put(failure)
    services.prediction_log.flush()

    labelled = []
    for ids, _, truth, _ in windows:
        keep = slice(0, 100)  # 20 per window stay unlabelled
        labelled.append(keep)
        wrong_first = [
            Feedback(i, not bool(t)) for i, t in zip(ids[keep], truth[keep], strict=True)
        ]
        right = [Feedback(i, bool(t)) for i, t in zip(ids[keep], truth[keep], strict=True)]
        services.feedback.submit(tenant, wrong_first)
        services.feedback.submit(tenant, right)  # a later label replaces the earlier one

    report = services.performance.report(
        tenant, "fraud", "hour", HOUR0 - timedelta(hours=1), HOUR0 + timedelta(hours=4)
    )
    assert [w["window_start"] for w in report["windows"]] == [
        HOUR0 + timedelta(hours=h) for h in range(3)
    ]
    for w, (_ids, scores, truth, latencies), keep in zip(
        report["windows"], windows, labelled, strict=True
    ):
        y, s = truth[keep].astype(int), scores[keep]
        pred = (s > 0.5).astype(int)
        m = w["metrics"]
        assert w["task"] == "binary" and w["labelled"] == 100
        assert m["accuracy"] == pytest.approx(skm.accuracy_score(y, pred), abs=1e-12)
        assert m["precision"] == pytest.approx(skm.precision_score(y, pred), abs=1e-12)
        assert m["recall"] == pytest.approx(skm.recall_score(y, pred), abs=1e-12)
        assert m["f1"] == pytest.approx(skm.f1_score(y, pred), abs=1e-12)
        assert m["roc_auc"] == pytest.approx(skm.roc_auc_score(y, s), abs=1e-12)
        assert m["log_loss"] == pytest.approx(skm.log_loss(y, s), abs=1e-12)
        prob_true, prob_pred = calibration_curve(y, s, n_bins=10)
        bins = m["calibration"]
        assert [b["fraction_positive"] for b in bins] == pytest.approx(prob_true, abs=1e-12)
        assert [b["mean_score"] for b in bins] == pytest.approx(prob_pred, abs=1e-12)
        counts = np.array([b["count"] for b in bins])
        assert m["ece"] == pytest.approx(np.sum(counts * np.abs(prob_true - prob_pred)) / 100)
        expected = np.percentile(latencies, [50, 95, 99])
        assert [w["latency_ms"][k] for k in ("p50", "p95", "p99")] == pytest.approx(expected)
    first = report["windows"][0]
    assert (first["requests"], first["errors"], first["predictions"]) == (124, 4, 120)
    assert first["error_rate"] == pytest.approx(4 / 124)


def test_regression_and_day_windows_equal_sklearn(services) -> None:  # type: ignore[no-untyped-def]
    tenant = services.keys.create_tenant("acme")
    rng = np.random.default_rng(3)
    day0 = HOUR0.replace(hour=0) - timedelta(days=2)
    per_day = []
    for day in range(3):
        truth = rng.normal(100, 20, 80)
        predicted = truth + rng.normal(0, 5, 80)
        moments = [day0 + timedelta(days=day, hours=float(h)) for h in rng.uniform(0, 23.9, 80)]
        rows = [(m, float(p), None, 1.0) for m, p in zip(moments, predicted, strict=True)]
        ids = log_requests(services, tenant, rows, version=2)
        per_day.append((ids, truth, predicted))
    services.prediction_log.flush()
    for ids, truth, _ in per_day:
        result = services.feedback.submit(
            tenant, [Feedback(i, float(t)) for i, t in zip(ids, truth, strict=True)]
        )
        assert result == {"accepted": 80, "unknown": 0, "unknown_ids": []}
    report = services.performance.report(tenant, "fraud", "day", day0, day0 + timedelta(days=3))
    assert len(report["windows"]) == 3
    for w, (_, truth, predicted) in zip(report["windows"], per_day, strict=True):
        assert (w["task"], w["version"]) == ("regression", 2)
        assert w["metrics"]["mae"] == pytest.approx(skm.mean_absolute_error(truth, predicted))
        assert w["metrics"]["rmse"] == pytest.approx(skm.root_mean_squared_error(truth, predicted))
        assert w["metrics"]["r2"] == pytest.approx(skm.r2_score(truth, predicted))


def test_unknown_ids_are_reported_and_wrong_types_refused(services) -> None:  # type: ignore[no-untyped-def]
    tenant = services.keys.create_tenant("acme")
    other = services.keys.create_tenant("globex")
    [known] = log_requests(services, tenant, [(HOUR0, True, 0.9, 1.0)])
    services.prediction_log.flush()
    stranger = id_at(HOUR0)
    result = services.feedback.submit(
        tenant, [Feedback(known, 1), Feedback(stranger, True), Feedback("not-an-id", False)]
    )
    assert result == {"accepted": 1, "unknown": 2, "unknown_ids": [stranger, "not-an-id"]}
    assert services.feedback.submit(other, [Feedback(known, True)])["unknown_ids"] == [known]
    with pytest.raises(InvalidInput) as refused:
        services.feedback.submit(tenant, [Feedback(known, "fraud")])
    assert refused.value.field == "label"


def test_multiclass_and_edge_cases_match_sklearn() -> None:
    rng = np.random.default_rng(1)
    truth = rng.choice(["a", "b", "c"], 200).tolist()
    predicted = rng.choice(["a", "b", "c"], 200).tolist()
    result = multiclass_metrics(truth, predicted)
    assert result["accuracy"] == pytest.approx(skm.accuracy_score(truth, predicted))
    for name, fn in (
        ("precision", skm.precision_score),
        ("recall", skm.recall_score),
        ("f1", skm.f1_score),
    ):
        assert result[name] == pytest.approx(fn(truth, predicted, average="macro"))
    one_class = binary_metrics(np.ones(5, int), np.zeros(5, int), np.full(5, 0.2))
    assert one_class["roc_auc"] is None and one_class["precision"] is None
    ties = np.array([0.5, 0.5, 0.2, 0.8, 0.5])
    y = np.array([1, 0, 0, 1, 1])
    tied = binary_metrics(y, (ties > 0.5).astype(int), ties)
    assert tied["roc_auc"] == pytest.approx(skm.roc_auc_score(y, ties))
