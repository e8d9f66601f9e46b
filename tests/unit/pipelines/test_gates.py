"""Gates on real scikit-learn models trained on simulated payments.

The holdout is the last third of the payments, with the account's plan and a random
segment (independent of everything) as sensitive attributes.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier

from ailayer.core.errors import InvalidInput
from ailayer.monitoring.fairness import fairness_report
from ailayer.pipelines.gates import (
    Candidate,
    FairnessBounds,
    Gate,
    GateResult,
    LatencyLimit,
    MetricThreshold,
    NotWorseThanChampion,
    ServedFeatures,
    SizeLimit,
    check_gates,
    declare_gates,
)
from ailayer.simulate import simulate
from ailayer.simulate.features import FRAUD_FEATURES, fraud_training_frame

FEATURES = list(FRAUD_FEATURES)
LABEL = "is_fraud"


@pytest.fixture(scope="module")
def frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    data = simulate(seed=7, n_payments=9000, fraud_rate=0.2)
    features, label = fraud_training_frame(data)
    plans = data.accounts.set_index("account_id")["plan"]
    segment = np.random.default_rng(0).choice(["a", "b"], size=len(features))
    frame = features.assign(
        is_fraud=label,
        plan=data.payments["account_id"].map(plans).to_numpy(),
        segment=segment,
        plan_free=(data.payments["account_id"].map(plans) == "free").astype(float).to_numpy(),
    )
    return frame.iloc[:6000].reset_index(drop=True), frame.iloc[6000:].reset_index(drop=True)


@pytest.fixture(scope="module")
def good(frames: tuple[pd.DataFrame, pd.DataFrame]) -> LogisticRegression:
    train, _ = frames
    return LogisticRegression(max_iter=2000).fit(train[FEATURES], train[LABEL])


@pytest.fixture(scope="module")
def weak(frames: tuple[pd.DataFrame, pd.DataFrame]) -> DecisionTreeClassifier:
    """Sees only the hour of the day: clearly worse than ``good``."""
    train, _ = frames
    return DecisionTreeClassifier(max_depth=2, random_state=0).fit(
        train[["hour_of_day"]], train[LABEL]
    )


@pytest.fixture(scope="module")
def unfair(frames: tuple[pd.DataFrame, pd.DataFrame]) -> LogisticRegression:
    """Trained on labels that flag half of the free plan's payments: it learns the plan."""
    train, _ = frames
    rng = np.random.default_rng(1)
    biased = train[LABEL] | ((train["plan_free"] == 1) & (rng.random(len(train)) < 0.5))
    columns = [*FEATURES, "plan_free"]
    return LogisticRegression(max_iter=2000).fit(train[columns], biased.astype(int))


def candidate(model: Any, holdout: pd.DataFrame, **changes: Any) -> Candidate:
    features = [str(c) for c in getattr(model, "feature_names_in_", FEATURES)]
    made = Candidate(
        model=model,
        artifact=sio.dumps(model),
        features=features,
        holdout=holdout,
        label=LABEL,
    )
    return replace(made, **changes)


def only_check(result: GateResult) -> Any:
    assert len(result.checks) == 1
    return result.checks[0]


def json_safe(body: dict) -> dict:
    return json.loads(json.dumps(body, allow_nan=False))


# metric thresholds


def test_a_good_model_passes_its_metric_thresholds(frames, good) -> None:
    report = check_gates(
        [MetricThreshold("auc", minimum=0.8), MetricThreshold("log_loss", maximum=0.5)],
        candidate(good, frames[1]),
    )
    assert report.passed, report.summary()
    assert report.summary() == "all 2 gates passed"
    auc = only_check(report["metric:auc"])
    assert 0.8 < auc.measured <= 1 and auc.by == 0


def test_a_failed_threshold_says_what_was_measured_against_what_and_by_how_much(
    frames, weak
) -> None:
    report = check_gates([MetricThreshold("auc", minimum=0.95)], candidate(weak, frames[1]))
    check = only_check(report["metric:auc"])
    assert not report.passed and not check.passed
    assert check.limit == 0.95 and check.measured < 0.95
    assert check.by == pytest.approx(0.95 - check.measured)
    assert "< minimum 0.95" in check.reason and "by" in check.reason
    body = json_safe(report.to_dict())
    assert body["passed"] is False and body["failed"] == ["metric:auc"]
    assert body["gates"][0]["checks"][0]["by"] == pytest.approx(check.by)


@pytest.mark.parametrize("metric", ["accuracy", "f1", "precision", "recall"])
def test_decision_metrics_match_scikit_learn(frames, good, metric: str) -> None:
    from sklearn import metrics

    _, holdout = frames
    expected = getattr(metrics, f"{metric}_score")(holdout[LABEL], good.predict(holdout[FEATURES]))
    check = only_check(MetricThreshold(metric, minimum=0.0).check(candidate(good, holdout)))
    assert check.passed and check.measured == pytest.approx(expected)


def test_both_bounds_give_two_checks(frames, good) -> None:
    result = MetricThreshold("accuracy", minimum=0.5, maximum=0.6).check(candidate(good, frames[1]))
    assert [c.comparison for c in result.checks] == [">=", "<="]
    assert [c.passed for c in result.checks] == [True, False]
    assert not result.passed


# the champion


def test_worse_than_the_champion_by_more_than_the_margin_fails(frames, good, weak) -> None:
    gate = NotWorseThanChampion("auc", margin=0.01)
    check = only_check(gate.check(candidate(weak, frames[1], champion=good)))
    assert not check.passed
    champion_auc = only_check(MetricThreshold("auc", minimum=0).check(candidate(good, frames[1])))
    assert check.limit == pytest.approx(champion_auc.measured - 0.01)
    assert check.by == pytest.approx(check.limit - check.measured) and check.by > 0
    assert "champion" in check.reason and "margin 0.01" in check.reason


def test_within_the_margin_passes_and_the_champion_is_scored_on_its_own_columns(
    frames, good, weak
) -> None:
    """The weak champion was trained on one column only: it is given that column."""
    check = only_check(
        NotWorseThanChampion("auc", margin=0.0).check(candidate(good, frames[1], champion=weak))
    )
    assert check.passed
    generous = NotWorseThanChampion("auc", margin=0.5).check(
        candidate(weak, frames[1], champion=good)
    )
    assert generous.passed


def test_lower_is_better_for_log_loss(frames, good, weak) -> None:
    gate = NotWorseThanChampion("log_loss", margin=0.0)
    assert gate.check(candidate(good, frames[1], champion=weak)).passed
    failed = only_check(gate.check(candidate(weak, frames[1], champion=good)))
    assert not failed.passed and failed.comparison == "<=" and failed.measured > failed.limit


def test_no_champion_passes_with_its_reason_unless_one_is_required(frames, good) -> None:
    free = only_check(NotWorseThanChampion("auc").check(candidate(good, frames[1])))
    assert free.passed and free.reason == "no champion" and free.measured is None
    required = NotWorseThanChampion("auc", require_champion=True).check(candidate(good, frames[1]))
    assert not required.passed
    assert "no champion" in only_check(required).reason


def test_a_champion_whose_columns_are_missing_fails_closed(frames, good, weak) -> None:
    holdout = frames[1].drop(columns=["hour_of_day"])
    check = only_check(
        NotWorseThanChampion("auc").check(candidate(good, holdout, champion=weak, features=[]))
    )
    assert not check.passed and "hour_of_day" in check.reason


# fairness


def test_a_deliberately_unfair_model_fails_the_four_fifths_rule(frames, unfair) -> None:
    _, holdout = frames
    gate = FairnessBounds(["plan"], max_parity_difference=0.1)
    result = gate.check(candidate(unfair, holdout))
    assert not result.passed
    by_name = {c.name: c for c in result.checks}
    ratio = by_name["parity_ratio[plan]"]
    expected = fairness_report(
        unfair.predict(holdout[unfair.feature_names_in_]),
        holdout["plan"],
        y_true=holdout[LABEL],
    )
    assert ratio.measured == pytest.approx(expected.demographic_parity_ratio)
    assert ratio.measured < 0.8 and ratio.limit == 0.8
    assert ratio.by == pytest.approx(0.8 - ratio.measured)
    difference = by_name["parity_difference[plan]"]
    assert difference.measured == pytest.approx(expected.demographic_parity_difference)
    assert not difference.passed
    json_safe(check_gates([gate], candidate(unfair, holdout)).to_dict())


def test_a_model_blind_to_a_random_segment_passes_every_bound(frames, good) -> None:
    gate = FairnessBounds(
        ["segment"],
        max_parity_difference=0.05,
        max_equalized_odds_difference=0.1,
    )
    result = gate.check(candidate(good, frames[1]))
    assert result.passed, [c.reason for c in result.checks]
    assert [c.name for c in result.checks] == [
        "parity_ratio[segment]",
        "parity_difference[segment]",
        "equalized_odds_difference[segment]",
    ]


def test_decisions_can_be_scores_cut_at_a_threshold(frames, good) -> None:
    _, holdout = frames
    gate = FairnessBounds(["segment"], threshold=0.3)
    check = only_check(gate.check(candidate(good, holdout)))
    scores = good.predict_proba(holdout[FEATURES])[:, 1]
    expected = fairness_report(scores, holdout["segment"], threshold=0.3)
    assert check.measured == pytest.approx(expected.demographic_parity_ratio)


def test_a_missing_attribute_column_fails_closed_naming_it(frames, good) -> None:
    gate = FairnessBounds(["segment", "gender"])
    result = gate.check(candidate(good, frames[1]))
    assert not result.passed
    assert result.checks[0].passed
    missing = result.checks[1]
    assert missing.measured is None and "gender" in missing.reason
    assert missing.reason.startswith("cannot evaluate")


def test_missing_values_in_an_attribute_fail_closed(frames, good) -> None:
    holdout = frames[1].copy()
    holdout.loc[:9, "segment"] = None
    check = only_check(FairnessBounds(["segment"]).check(candidate(good, holdout)))
    assert not check.passed and "10 missing values" in check.reason


def test_equalized_odds_that_cannot_be_measured_fails_closed(frames, good) -> None:
    """Segment a all fraud, segment b all legitimate: each rate is defined in one group
    only, so neither spread (hence equalized odds) exists."""
    holdout = frames[1].copy()
    holdout[LABEL] = (holdout["segment"] == "a").astype(int)
    gate = FairnessBounds(["segment"], min_parity_ratio=None, max_equalized_odds_difference=0.1)
    check = only_check(gate.check(candidate(good, holdout)))
    assert check.measured is None and not check.passed
    assert "equalized_odds_difference[segment] is undefined" in check.reason
    assert "no rate is defined in two groups" in check.reason


# NaN, missing and extreme values


def test_an_undefined_metric_fails_closed(frames, good) -> None:
    """AUC needs both classes; precision needs a predicted positive."""
    holdout = frames[1]
    one_class = candidate(good, holdout[holdout[LABEL] == 0])
    report = check_gates([MetricThreshold("auc", minimum=0.5)], one_class)
    auc = only_check(report["metric:auc"])
    assert not report.passed and auc.measured is None and "auc" in auc.reason
    assert json_safe(report.to_dict())["gates"][0]["checks"][0]["measured"] is None
    negatives = holdout[good.predict(holdout[FEATURES]) == 0]
    assert negatives[LABEL].sum() > 0
    precision = only_check(
        MetricThreshold("precision", minimum=0.1).check(candidate(good, negatives))
    )
    assert precision.measured is None and "precision is nan" in precision.reason


def test_a_model_that_scores_nan_fails_closed(frames, good) -> None:
    broken = LogisticRegression().fit(frames[0][FEATURES], frames[0][LABEL])
    broken.coef_ = np.full_like(broken.coef_, np.nan)
    report = check_gates(
        [MetricThreshold("auc", minimum=0.5), NotWorseThanChampion("auc")],
        candidate(broken, frames[1], champion=good),
    )
    assert not report.passed and len(report.failures) == 2
    assert "NaN" in only_check(report["metric:auc"]).reason
    json_safe(report.to_dict())


def test_nan_features_and_labels_fail_closed(frames, good) -> None:
    holdout = frames[1].copy()
    holdout.loc[0, "amount"] = np.nan
    check = only_check(MetricThreshold("auc", minimum=0.5).check(candidate(good, holdout)))
    assert not check.passed and "failed to score" in check.reason
    labels = frames[1].copy()
    labels[LABEL] = labels[LABEL].astype(float)
    labels.loc[:2, LABEL] = np.nan
    check = only_check(MetricThreshold("auc", minimum=0.5).check(candidate(good, labels)))
    assert "3 missing values" in check.reason


def test_selection_rates_need_no_labels_but_equalized_odds_does(frames, good) -> None:
    unlabelled = frames[1].drop(columns=[LABEL])
    assert FairnessBounds(["segment"]).check(candidate(good, unlabelled)).passed
    gate = FairnessBounds(["segment"], max_equalized_odds_difference=0.5)
    check = only_check(gate.check(candidate(good, unlabelled)))
    assert not check.passed and "no label column" in check.reason


def test_no_label_column_or_no_rows_fails_closed(frames, good) -> None:
    gates = [
        MetricThreshold("accuracy", minimum=0.5),
        FairnessBounds(["segment"], max_equalized_odds_difference=0.5),
    ]
    for holdout, words in ((frames[1].drop(columns=[LABEL]), "no label column"),
                           (frames[1].iloc[:0], "no rows")):  # fmt: skip
        report = check_gates(gates, candidate(good, holdout))
        assert not report.passed
        assert all(words in c.reason for r in report.results for c in r.checks)


def test_extreme_finite_floats_are_judged_and_the_report_stays_json(frames, good) -> None:
    holdout = frames[1].copy()
    holdout.loc[:99, "amount"] = 1e308
    holdout.loc[100:199, "amount"] = -1e308
    holdout.loc[200:299, "card_age_days"] = 5e-324
    report = check_gates(
        [
            MetricThreshold("auc", minimum=0.5),
            MetricThreshold("log_loss", maximum=1e308),
            FairnessBounds(["segment"], max_equalized_odds_difference=1.0),
            LatencyLimit(max_p99_ms=1e308, rows=5, warmup=0),
        ],
        candidate(good, holdout),
    )
    assert report.passed, report.summary()
    json_safe(report.to_dict())


def test_infinite_features_fail_closed(frames, good) -> None:
    holdout = frames[1].copy()
    holdout.loc[0, "amount"] = np.inf
    report = check_gates(
        [MetricThreshold("auc", minimum=0.5), LatencyLimit(max_p99_ms=1000.0, rows=3)],
        candidate(good, holdout.iloc[:1]),
    )
    assert not report.passed
    assert all(c.measured is None for r in report.results for c in r.checks)
    json_safe(report.to_dict())


# latency, size and schema


def test_latency_is_the_p99_of_single_row_predictions(frames, good) -> None:
    ok = only_check(LatencyLimit(max_p99_ms=60_000.0, rows=20).check(candidate(good, frames[1])))
    assert ok.passed and 0 < ok.measured < 60_000
    too_tight = only_check(
        LatencyLimit(max_p99_ms=1e-9, rows=5, warmup=1).check(candidate(good, frames[1]))
    )
    assert not too_tight.passed and too_tight.by == pytest.approx(too_tight.measured - 1e-9)


def test_size_limit_counts_artifact_bytes(frames, good) -> None:
    made = candidate(good, frames[1])
    size = len(made.artifact)
    assert SizeLimit(max_bytes=size).check(made).passed
    check = only_check(SizeLimit(max_bytes=size - 1).check(made))
    assert not check.passed and check.measured == size and check.by == 1


def test_candidate_features_must_be_served(frames, good) -> None:
    served = candidate(good, frames[1], served_fields=[*FEATURES, "extra"])
    assert ServedFeatures().check(served).passed
    check = only_check(
        ServedFeatures().check(candidate(good, frames[1], served_fields=FEATURES[:4]))
    )
    assert not check.passed and check.measured == 2 and check.limit == 0
    assert "payments_last_24h" in check.reason and "foreign_country" in check.reason


def test_no_feature_service_passes_with_its_reason_unless_required(frames, good) -> None:
    free = only_check(ServedFeatures().check(candidate(good, frames[1])))
    assert free.passed and free.reason == "endpoint has no feature service"
    assert not ServedFeatures(require_feature_service=True).check(candidate(good, frames[1])).passed


# running gates together


class Exploding:
    """A gate whose own code fails: check_gates still reports it, failed."""

    name = "exploding"

    def check(self, candidate: Candidate) -> GateResult:
        raise RuntimeError("bug in the gate")


def test_a_gate_that_raises_fails_closed_and_the_others_still_run(frames, good) -> None:
    assert isinstance(Exploding(), Gate)
    report = check_gates(
        [Exploding(), MetricThreshold("auc", minimum=0.5)], candidate(good, frames[1])
    )
    assert not report.passed and report["metric:auc"].passed
    assert "RuntimeError: bug in the gate" in only_check(report["exploding"]).reason
    assert report.summary().startswith("exploding: cannot evaluate")


def test_something_that_is_not_a_gate_is_refused(frames, good) -> None:
    with pytest.raises(InvalidInput) as error:
        check_gates([object()], candidate(good, frames[1]))  # type: ignore[list-item]
    assert error.value.field == "gates"


def test_two_gates_with_one_name_are_refused_at_declaration() -> None:
    first = MetricThreshold("auc", minimum=0.8)
    assert declare_gates([first, MetricThreshold("auc", maximum=0.99, name="auc-cap")])
    for gates in ([first, MetricThreshold("auc", maximum=0.99)], "auc", first):
        with pytest.raises(InvalidInput) as error:
            declare_gates(gates)  # type: ignore[arg-type]
        assert error.value.field == "gates"


def test_a_result_without_checks_does_not_pass() -> None:
    assert not GateResult("empty", ()).passed


# declaration


@pytest.mark.parametrize(
    ("declare", "field"),
    [
        (lambda: MetricThreshold("roc", minimum=0.5), "metric"),
        (lambda: MetricThreshold("auc"), "minimum"),
        (lambda: MetricThreshold("auc", minimum=1.5), "minimum"),
        (lambda: MetricThreshold("auc", maximum=-0.1), "maximum"),
        (lambda: MetricThreshold("auc", minimum=math.nan), "minimum"),
        (lambda: MetricThreshold("log_loss", maximum=math.inf), "maximum"),
        (lambda: MetricThreshold("log_loss", maximum=-1.0), "maximum"),
        (lambda: MetricThreshold("auc", minimum=True), "minimum"),
        (lambda: MetricThreshold("auc", minimum="0.8"), "minimum"),
        (lambda: MetricThreshold("auc", minimum=0.9, maximum=0.8), "minimum"),
        (lambda: MetricThreshold("auc", minimum=0.8, name=" "), "name"),
        (lambda: NotWorseThanChampion("auc", margin=-0.01), "margin"),
        (lambda: NotWorseThanChampion("auc", margin=math.nan), "margin"),
        (lambda: NotWorseThanChampion("f2"), "metric"),
        (lambda: NotWorseThanChampion("auc", require_champion="yes"), "require_champion"),
        (lambda: FairnessBounds([]), "attributes"),
        (lambda: FairnessBounds("plan"), "attributes"),
        (lambda: FairnessBounds(["plan", "plan"]), "attributes"),
        (lambda: FairnessBounds(["plan", ""]), "attributes"),
        (lambda: FairnessBounds(["plan"], min_parity_ratio=None), "min_parity_ratio"),
        (lambda: FairnessBounds(["plan"], min_parity_ratio=1.2), "min_parity_ratio"),
        (lambda: FairnessBounds(["plan"], max_parity_difference=-0.1), "max_parity_difference"),
        (
            lambda: FairnessBounds(["plan"], max_equalized_odds_difference=math.inf),
            "max_equalized_odds_difference",
        ),
        (lambda: FairnessBounds(["plan"], threshold=1.5), "threshold"),
        (lambda: LatencyLimit(max_p99_ms=0), "max_p99_ms"),
        (lambda: LatencyLimit(max_p99_ms=-5), "max_p99_ms"),
        (lambda: LatencyLimit(max_p99_ms=math.nan), "max_p99_ms"),
        (lambda: LatencyLimit(max_p99_ms=10, rows=0), "rows"),
        (lambda: LatencyLimit(max_p99_ms=10, rows=True), "rows"),
        (lambda: LatencyLimit(max_p99_ms=10, warmup=-1), "warmup"),
        (lambda: LatencyLimit(max_p99_ms=10, rows=10**9), "rows"),
        (lambda: SizeLimit(max_bytes=0), "max_bytes"),
        (lambda: SizeLimit(max_bytes=1.5), "max_bytes"),
        (lambda: ServedFeatures(require_feature_service=1), "require_feature_service"),
    ],
)
def test_a_misconfigured_gate_is_refused_at_declaration(declare, field: str) -> None:
    with pytest.raises(InvalidInput) as error:
        declare()
    assert error.value.field == field
    assert field.split("_")[0] in error.value.message or field == "metric"
