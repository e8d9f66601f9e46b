"""Fairness metrics against values computed by hand with Fairlearn's definitions."""

from __future__ import annotations

import json

import pytest

from ailayer.core.errors import InvalidInput
from ailayer.monitoring.fairness import fairness_report

# group a: 6 rows, y_true 1 1 1 0 0 0, y_pred 1 1 0 1 0 0
# group b: 4 rows, y_true 1 1 0 0,     y_pred 1 0 0 0
GROUPS = ["a"] * 6 + ["b"] * 4
Y_TRUE = [1, 1, 1, 0, 0, 0, 1, 1, 0, 0]
Y_PRED = [1, 1, 0, 1, 0, 0, 1, 0, 0, 0]


def test_per_group_rates_by_hand() -> None:
    report = fairness_report(Y_PRED, GROUPS, y_true=Y_TRUE, name="country")
    a, b = report["a"], report["b"]
    assert (a.count, a.selected, a.positives) == (6, 3, 3)
    assert a.selection_rate == pytest.approx(3 / 6)
    assert a.true_positive_rate == pytest.approx(2 / 3)
    assert a.false_positive_rate == pytest.approx(1 / 3)
    assert a.precision == pytest.approx(2 / 3)
    assert b.selection_rate == pytest.approx(1 / 4)
    assert b.true_positive_rate == pytest.approx(1 / 2)
    assert b.false_positive_rate == pytest.approx(0.0)
    assert b.precision == pytest.approx(1.0)


def test_disparities_by_hand() -> None:
    report = fairness_report(Y_PRED, GROUPS, y_true=Y_TRUE)
    assert report.demographic_parity_difference == pytest.approx(0.5 - 0.25)
    assert report.demographic_parity_ratio == pytest.approx(0.25 / 0.5)
    # TPR spread 2/3 - 1/2 = 1/6; FPR spread 1/3 - 0 = 1/3; the larger one
    assert report.equalized_odds_difference == pytest.approx(1 / 3)
    assert report.four_fifths_rule is False


def test_four_fifths_rule_passes_at_ratio_point_eight() -> None:
    report = fairness_report([1] * 5 + [0] * 5 + [1] * 4 + [0] * 6, ["a"] * 10 + ["b"] * 10)
    assert report.demographic_parity_ratio == pytest.approx(0.8)
    assert report.four_fifths_rule is True
    assert report.equalized_odds_difference is None  # no labels yet


def test_scores_are_cut_at_a_threshold_and_undefined_rates_are_none() -> None:
    report = fairness_report(
        [0.9, 0.2, 0.7, 0.1], ["a", "a", "b", "b"], y_true=[0, 0, 0, 0], threshold=0.5
    )
    assert report["a"].true_positive_rate is None and report["a"].false_positive_rate == 0.5
    assert report.equalized_odds_difference == 0.0
    body = json.loads(json.dumps(report.to_dict()))
    assert body["groups"]["b"]["precision"] == 0.0


def test_bad_input_names_the_field() -> None:
    with pytest.raises(InvalidInput) as caught:
        fairness_report([0.3, 1], ["a", "b"])
    assert caught.value.field == "y_pred"
    with pytest.raises(InvalidInput) as caught:
        fairness_report([0, 1], ["a"])
    assert caught.value.field == "sensitive"
