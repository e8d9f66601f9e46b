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


def _fairlearn_rate(y_true: list[int], y_pred: list[int]) -> float:
    """Fairlearn's true_positive_rate: scikit-learn's row-normalized confusion matrix,
    which turns 0/0 into 0.0."""
    from sklearn.metrics import confusion_matrix

    return float(confusion_matrix(y_true, y_pred, labels=[0, 1], normalize="true")[1, 1])


def test_a_group_without_positives_is_left_out_of_the_tpr_spread() -> None:
    """Group c has no positives: its TPR is undefined, not 0. Fairlearn counts 0.0 and
    reports a 0.93 equalized-odds difference caused by a group that gives no evidence."""
    groups = ["a"] * 30 + ["b"] * 12 + ["c"] * 10
    y_true = [1] * 15 + [0] * 15 + [1] * 6 + [0] * 6 + [0] * 10
    y_pred = [1] * 14 + [0] + [1] + [0] * 14 + [1] * 5 + [0] * 7 + [0] * 10
    report = fairness_report(y_pred, groups, y_true=y_true)
    tpr = {g: report[g].true_positive_rate for g in "abc"}
    assert tpr["a"] == pytest.approx(14 / 15) and tpr["b"] == pytest.approx(5 / 6)
    assert tpr["c"] is None
    assert report.equalized_odds_difference == pytest.approx(0.10)  # TPR 14/15 - 5/6
    fairlearn_tpr = [
        _fairlearn_rate(
            [t for t, g in zip(y_true, groups, strict=True) if g == name],
            [p for p, g in zip(y_pred, groups, strict=True) if g == name],
        )
        for name in "abc"
    ]
    assert fairlearn_tpr[2] == 0.0
    assert max(fairlearn_tpr) - min(fairlearn_tpr) == pytest.approx(14 / 15)  # 0.93


def test_a_spread_no_two_groups_define_is_unknown_not_zero() -> None:
    """Only group a has positives and only group b has negatives: no TPR or FPR spread
    can be measured, so equalized odds is None rather than a reassuring 0."""
    report = fairness_report([1, 0, 0, 1], ["a", "a", "b", "b"], y_true=[1, 1, 0, 0])
    assert report["a"].false_positive_rate is None and report["b"].true_positive_rate is None
    assert report.equalized_odds_difference is None
