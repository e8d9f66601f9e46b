"""A recommender's ranking metrics and its A/B experiment on NDCG@k, read from the real
prediction log and feedback: per version and window, the algorithm's values on exactly
the logged lists and the latest clicks/purchases; another tenant's ids are refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from ailayer.core.errors import InvalidInput
from ailayer.monitoring import ranking
from ailayer.monitoring.endpoint.concept import ConceptWatch
from ailayer.monitoring.endpoint.experiment import EndpointExperiments
from ailayer.monitoring.endpoint.ranking import EndpointRanking
from ailayer.monitoring.experiment import analyse
from ailayer.monitoring.log import Entry, Feedback
from ailayer.monitoring.log.variant_stats import LogVariantStats
from ailayer.rollout.policy import Variant
from tests.support.log_records import target
from tests.support.prediction_log import id_at
from tests.support.ranking_log import N, log_ab, recommendation


def test_experiment_on_ndcg_is_the_algorithm_on_each_recommendations_ndcg(services) -> None:  # type: ignore[no-untyped-def]
    tenant = services.keys.create_tenant("acme")
    now = datetime.now(UTC)
    world = log_ab(services, tenant, now)
    experiments = EndpointExperiments(services.prediction_log)
    found = experiments.result(tenant, "fraud", "ndcg@10", 0.1, end=now)
    expected = analyse({"a": np.array(world["a"]), "b": np.array(world["b"])}, "mean", 0.1)
    assert found.result == expected
    assert [t.outcomes for t in found.traffic] == [len(world["a"]), len(world["b"])]
    assert [t.predictions for t in found.traffic] == [N // 2, N // 2]
    [comparison] = found.result.comparisons
    assert comparison.verdict == "better" and comparison.message == "b better than a"
    assert found.to_dict()["metric"] == "ndcg@10"
    precision = experiments.result(tenant, "fraud", "precision@3", 0.1, end=now)
    assert precision.result.variants[1].mean > precision.result.variants[0].mean
    with pytest.raises(InvalidInput) as caught:
        experiments.result(tenant, "fraud", "ndcg@0", 0.1, end=now)
    assert caught.value.field == "metric"
    with pytest.raises(InvalidInput):
        experiments.result(tenant, "fraud", "mrr", 0.1, end=now)


def test_ranking_report_per_version_and_window(services) -> None:  # type: ignore[no-untyped-def]
    tenant = services.keys.create_tenant("acme")
    now = datetime.now(UTC).replace(minute=59, second=0, microsecond=0)
    world = log_ab(services, tenant, now)
    report = EndpointRanking(services.prediction_log).report(
        tenant, "fraud", 10, "day", start=now - timedelta(hours=2), end=now
    )
    by_version = {}
    for window in report["windows"]:
        by_version.setdefault(window["version"], []).append(window)
    for version, name in ((1, "a"), (2, "b")):
        windows = by_version[version]
        assert sum(w["predictions"] for w in windows) == N // 2
        assert sum(w["labelled"] for w in windows) == len(world["rows"][name])
        if len(windows) == 1:  # the hour did not cross midnight
            expected = ranking.summary(world["rows"][name], 10)
            assert windows[0]["ndcg@10"] == pytest.approx(expected["ndcg@10"])
            assert windows[0]["precision@10"] == pytest.approx(expected["precision@10"])
            assert windows[0]["recall@10"] == pytest.approx(expected["recall@10"])
            assert windows[0]["coverage@10"] == 1.0  # 20 items, all shown
            assert windows[0]["catalog"] == 20  # 99 was only in replaced labels
    for total, name in zip(report["versions"], "ab", strict=True):
        rows = world["rows"][name]
        expected = ranking.summary(rows, 10)
        assert (total["predictions"], total["ranked"], total["labelled"]) == (
            N // 2,
            N // 2,
            len(rows),
        )
        assert total["relevant"] == sum(1 for _, graded in rows if graded)
        for metric in ("ndcg@10", "precision@10", "recall@10"):
            assert total[metric] == pytest.approx(expected[metric])
        assert total["coverage@10"] == ranking.coverage(world["shown"][name], 10, 20)
    with pytest.raises(InvalidInput) as caught:
        EndpointRanking(services.prediction_log).report(tenant, "fraud", 0)
    assert caught.value.field == "k"


def test_ranks_says_whether_an_endpoint_answered_ranked_lists(services) -> None:  # type: ignore[no-untyped-def]
    tenant = services.keys.create_tenant("acme")
    now = datetime.now(UTC)
    service = EndpointRanking(services.prediction_log)
    hour = now - timedelta(hours=1), now + timedelta(seconds=1)
    assert not service.ranks(tenant, "fraud", *hour)  # nothing logged
    scored = {"prediction_id": id_at(now - timedelta(minutes=2)), "prediction": {"items": 3}}
    when = int((now - timedelta(minutes=2)).timestamp() * 1e9)
    services.prediction_log.buffer.put(Entry(tenant, target(), when, 0.7, [{}], [scored]))
    services.prediction_log.flush()
    assert not service.ranks(tenant, "fraud", *hour)  # an object, but no list of items
    assert service.report(tenant, "fraud", 10, "hour", *hour)["versions"][0]["ranked"] == 0
    item = {"prediction_id": id_at(now - timedelta(minutes=1)), "prediction": recommendation([])}
    when = int((now - timedelta(minutes=1)).timestamp() * 1e9)
    services.prediction_log.buffer.put(Entry(tenant, target(), when, 1.0, [{}], [item]))
    services.prediction_log.flush()
    assert service.ranks(tenant, "fraud", *hour)  # an empty list is still a ranked list
    assert not service.ranks(tenant, "fraud", now - timedelta(days=2), now - timedelta(days=1))
    assert service.report(tenant, "fraud", 10, "hour", *hour)["versions"][0]["ranked"] == 1


def test_no_feedback_and_no_log_give_empty_metrics(services) -> None:  # type: ignore[no-untyped-def]
    tenant = services.keys.create_tenant("acme")
    now = datetime.now(UTC)
    service = EndpointRanking(services.prediction_log)
    assert service.report(tenant, "fraud", end=now)["windows"] == []
    item = {"prediction_id": id_at(now - timedelta(minutes=1)), "prediction": recommendation([])}
    when = int((now - timedelta(minutes=1)).timestamp() * 1e9)
    services.prediction_log.buffer.put(Entry(tenant, target(), when, 1.0, [{}], [item]))
    services.prediction_log.flush()
    [window] = service.report(tenant, "fraud", 5, "hour", end=now + timedelta(seconds=1))["windows"]
    assert (window["predictions"], window["labelled"], window["ndcg@5"]) == (1, 0, None)
    assert window["coverage@5"] is None  # nothing seen: no catalog


def test_another_tenants_prediction_ids_are_refused(services) -> None:  # type: ignore[no-untyped-def]
    acme = services.keys.create_tenant("acme")
    other = services.keys.create_tenant("other")
    now = datetime.now(UTC)
    item = {"prediction_id": id_at(now), "prediction": recommendation([1, 2])}
    when = int(now.timestamp() * 1e9)
    services.prediction_log.buffer.put(Entry(acme, target(), when, 1.0, [{}], [item]))
    services.prediction_log.flush()
    label = {"clicked": [1]}
    refused = services.feedback.submit(other, [Feedback(item["prediction_id"], label)])
    assert (refused["accepted"], refused["unknown_ids"]) == (0, [item["prediction_id"]])
    assert EndpointRanking(services.prediction_log).report(other, "fraud", end=now)["windows"] == []
    with pytest.raises(InvalidInput) as caught:
        services.feedback.submit(acme, [Feedback(item["prediction_id"], {"viewed": [1]})])
    assert caught.value.field == "label"


def test_a_recommender_canary_is_judged_on_ndcg_at_10(services) -> None:  # type: ignore[no-untyped-def]
    tenant = services.keys.create_tenant("acme")
    now = datetime.now(UTC)
    world = log_ab(services, tenant, now)
    variants = [Variant("a", "fraud", 1, 50), Variant("b", "fraud", 2, 50)]
    stats = LogVariantStats(services.prediction_log).variant_stats(
        tenant, "fraud", variants, now - timedelta(hours=2), now + timedelta(seconds=1)
    )
    for name in ("a", "b"):
        assert stats[name].quality_metric == "ndcg@10"
        assert stats[name].labelled == len(world[name])
        assert stats[name].quality == pytest.approx(np.mean(world[name]))


def test_concept_drift_of_a_recommender_watches_one_minus_ndcg(services) -> None:  # type: ignore[no-untyped-def]
    tenant = services.keys.create_tenant("acme")
    now = datetime.now(UTC)
    world = log_ab(services, tenant, now)
    watch = ConceptWatch(services.prediction_log)
    found = watch.status(tenant, "fraud", "adwin", start=now - timedelta(hours=2), end=now)
    by_version = {v["version"]: v for v in found}
    assert by_version[1]["mean_error"] == pytest.approx(1 - np.mean(world["a"]))
    assert by_version[2]["mean_error"] == pytest.approx(1 - np.mean(world["b"]))
    [ddm, *_] = watch.status(tenant, "fraud", "ddm", start=now - timedelta(hours=2), end=now)
    assert "recommender" in ddm["reason"]


def test_a_window_past_the_row_bound_is_refused_not_cut(services, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    tenant = services.keys.create_tenant("acme")
    now = datetime.now(UTC)
    log_ab(services, tenant, now)
    monkeypatch.setattr("ailayer.monitoring.endpoint.ranking.MAX_ROWS", N - 1)
    with pytest.raises(InvalidInput) as caught:
        EndpointRanking(services.prediction_log).report(tenant, "fraud", end=now)
    assert caught.value.field == "start"
    monkeypatch.setattr("ailayer.monitoring.endpoint.ranking.MAX_ROWS", N)
    found = EndpointRanking(services.prediction_log).report(tenant, "fraud", end=now)
    assert sum(w["predictions"] for w in found["windows"]) == N
