"""Ranking metrics against values computed by hand, and their edge cases: no feedback,
k larger than the list, an empty list, duplicate items, labels of the wrong shape."""

from __future__ import annotations

import math

import pytest

from ailayer.core.errors import InvalidInput
from ailayer.monitoring import ranking


def test_precision_recall_and_ndcg_by_hand() -> None:
    # list 10, 20, 30, 40; clicked 20 (grade 1), purchased 40 (grade 2), and 99 never shown
    relevant = ranking.grades({"clicked": [20, 99], "purchased": [40]})
    assert relevant == {20: 1, 99: 1, 40: 2}
    found = ranking.score([10, 20, 30, 40], relevant, 4)
    assert found.precision == 2 / 4
    assert found.recall == 2 / 3
    dcg = 1 / math.log2(3) + 3 / math.log2(5)  # rank 2 gain 1, rank 4 gain 2**2 - 1
    ideal = 3 / math.log2(2) + 1 / math.log2(3) + 1 / math.log2(4)  # 40, then 20 and 99
    assert found.ndcg == pytest.approx(dcg / ideal)
    top2 = ranking.score([10, 20, 30, 40], relevant, 2)
    assert (top2.precision, top2.recall) == (1 / 2, 1 / 3)
    assert top2.ndcg == pytest.approx((1 / math.log2(3)) / (3 + 1 / math.log2(3)))


def test_a_perfect_list_scores_one_and_a_purchase_outranks_a_click() -> None:
    relevant = ranking.grades({"clicked": [5, 7], "purchased": [7]})
    assert relevant == {5: 1, 7: 2}
    assert ranking.score([7, 5, 1], relevant, 3).ndcg == pytest.approx(1.0)
    assert ranking.score([5, 7, 1], relevant, 3).ndcg < 1.0


def test_no_relevant_item_an_empty_list_and_k_beyond_the_list() -> None:
    nothing = ranking.score([1, 2, 3], {}, 10)
    assert (nothing.precision, nothing.recall, nothing.ndcg) == (0.0, None, 0.0)
    empty = ranking.score([], {4: 1}, 10)
    assert (empty.precision, empty.recall, empty.ndcg) == (0.0, 0.0, 0.0)
    short = ranking.score([4], {4: 1}, 10)  # an empty slot is a miss for precision
    assert (short.precision, short.recall, short.ndcg) == (0.1, 1.0, 1.0)


def test_a_duplicate_item_counts_once_at_its_first_rank() -> None:
    found = ranking.score([3, 3, 3, 8], {3: 1, 8: 1}, 2)
    assert (found.precision, found.recall) == (1.0, 1.0)
    assert found.ndcg == pytest.approx(1.0)
    assert ranking.coverage([[1, 1, 2], [2, 3]], 2, 10) == pytest.approx(3 / 10)


def test_summary_and_coverage() -> None:
    rows = [([1, 2], {1: 1}), ([3, 4], {}), ([5, 6], {6: 2})]
    found = ranking.summary(rows, 2)
    assert found["labelled"] == 3
    assert found["precision@2"] == pytest.approx((0.5 + 0 + 0.5) / 3)
    assert found["recall@2"] == pytest.approx(1.0)  # only rows with something relevant
    third = (3 / math.log2(3)) / 3  # 6 purchased, at rank 2 of 2; ideal: at rank 1
    assert found["ndcg@2"] == pytest.approx((1.0 + 0.0 + third) / 3)
    assert ranking.summary([], 5) == {
        "labelled": 0,
        "precision@5": None,
        "recall@5": None,
        "ndcg@5": None,
    }
    assert ranking.coverage([], 3, 0) is None
    assert ranking.coverage([[1, 2, 3]], 3, 2) == 1.0  # capped


def test_metric_names_and_k() -> None:
    assert ranking.parse_metric("ndcg@10") == ("ndcg", 10)
    assert ranking.parse_metric("recall@1") == ("recall", 1)
    assert ranking.parse_metric("conversion") is None
    assert ranking.parse_metric("mrr@10") is None
    for bad in ("ndcg@0", "ndcg@", "ndcg@x", "precision@1001"):
        with pytest.raises(InvalidInput) as caught:
            ranking.parse_metric(bad)
        assert caught.value.field == "metric"
    assert ranking.check_k(1000) == 1000
    for bad in (0, 1001, 2.0, True):
        with pytest.raises(InvalidInput):
            ranking.check_k(bad)


def test_interactions_are_checked() -> None:
    assert ranking.parse_interactions({"clicked": [1, 2]}) == {"clicked": [1, 2]}
    bad_labels = (
        1,
        "x",
        {},
        {"viewed": [1]},
        {"clicked": 3},
        {"clicked": ["a"]},
        {"clicked": [1.5]},
        {"purchased": [True]},
        {"clicked": list(range(ranking.MAX_LABEL_ITEMS + 1))},
    )
    for label in bad_labels:
        with pytest.raises(InvalidInput) as caught:
            ranking.parse_interactions(label)
        assert caught.value.field == "label", label


def test_only_a_recommendation_is_a_ranking() -> None:
    assert ranking.is_ranking({"items": [{"item": 1, "score": 0.5}]})
    assert ranking.ranked_items({"items": [{"item": 1, "score": 0.5}, {"item": 9}]}) == [1, 9]
    assert not ranking.is_ranking(True) and not ranking.is_ranking({"items": 3})
    assert ranking.ranked_items(0.4) == []
