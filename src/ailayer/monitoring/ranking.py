"""Ranking metrics: how good ranked recommendations were, judged by what people did.

A recommendation is a ranked list of item ids; its feedback (the label posted for its
prediction id) is what the person then did: ``{"clicked": [ids], "purchased": [ids]}``.
A clicked item is relevant with grade 1, a purchased one with grade 2 (a purchase
outranks a click of the same item). Per prediction, at a cut-off ``k``:

- ``precision@k``: relevant items in the top k ÷ k (the list's own length when shorter
  counts as k: an empty slot is a miss);
- ``recall@k``: relevant items in the top k ÷ all relevant items (undefined, None, when
  nothing was relevant);
- ``ndcg@k``: discounted cumulative gain of the top k, gain ``2**grade - 1`` at rank r
  discounted by ``log2(r + 1)``, over the ideal ordering of the relevant items (0 when
  nothing was relevant: no list can do better, and the A/B outcome stays defined);
- ``coverage`` (per group): distinct items shown in top-k lists ÷ a catalog size.

Arrays and dicts in, numbers out, no I/O. A duplicate item in a list counts once, at
its first rank.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from ailayer.core.errors import InvalidInput

MAX_K = 1000
MAX_LABEL_ITEMS = 10_000
ACTIONS = {"clicked": 1, "purchased": 2}  # action → relevance grade
METRIC_NAMES = ("precision", "recall", "ndcg")


@dataclass(frozen=True, slots=True)
class RankingScores:
    """One prediction's metrics at ``k``."""

    precision: float
    recall: float | None
    ndcg: float


def check_k(k: Any, field: str = "k") -> int:
    """``k`` as a cut-off between 1 and ``MAX_K``, or 422 naming ``field``."""
    if type(k) is not int or not 1 <= k <= MAX_K:
        raise InvalidInput(f"{field} must be an integer from 1 to {MAX_K}; got {k!r}", field=field)
    return k


def parse_metric(name: str) -> tuple[str, int] | None:
    """``"ndcg@10"`` → ``("ndcg", 10)``; None for a name that is not a ranking metric."""
    metric, at, cut = name.partition("@")
    if not at or metric not in METRIC_NAMES:
        return None
    if not cut.isdigit() or not 1 <= int(cut) <= MAX_K:
        raise InvalidInput(
            f"{name!r}: the cut-off after @ must be an integer from 1 to {MAX_K}", field="metric"
        )
    return metric, int(cut)


def is_ranking(prediction: Any) -> bool:
    """True for a recommender's prediction: ``{"items": [{"item": id, "score": s}, ...]}``."""
    return isinstance(prediction, dict) and isinstance(prediction.get("items"), list)


def ranked_items(prediction: Any) -> list[Any]:
    """The item ids of a logged ranking prediction, best first (empty for anything else)."""
    if not is_ranking(prediction):
        return []
    return [entry["item"] for entry in prediction["items"] if isinstance(entry, dict)]


def parse_interactions(label: Any, where: str = "label") -> dict[str, list[int]]:
    """A ranking label checked: ``{"clicked": [ids], "purchased": [ids]}`` (either may be
    missing), item ids integers; 422 naming the field otherwise."""
    if not isinstance(label, dict) or not label:
        raise InvalidInput(
            f"{where} must be an object such as "
            '{"clicked": [item ids], "purchased": [item ids]}, like a recommender\'s feedback; '
            f"got {label!r}",
            field="label",
        )
    extra = sorted(set(label) - set(ACTIONS))
    if extra:
        raise InvalidInput(
            f"{where}: unexpected key {extra[0]!r}; expected {sorted(ACTIONS)}", field="label"
        )
    parsed: dict[str, list[int]] = {}
    for action, items in label.items():
        if not isinstance(items, list) or len(items) > MAX_LABEL_ITEMS:
            raise InvalidInput(
                f"{where}.{action} must be a list of at most {MAX_LABEL_ITEMS} item ids",
                field="label",
            )
        if not all(type(i) is int and -(2**63) <= i < 2**63 for i in items):
            raise InvalidInput(f"{where}.{action} must hold integer item ids", field="label")
        parsed[action] = list(items)
    return parsed


def grades(interactions: dict[str, Sequence[Any]]) -> dict[Any, int]:
    """item → relevance grade: the highest action seen for it."""
    graded: dict[Any, int] = {}
    for action, items in interactions.items():
        grade = ACTIONS.get(action, 0)
        for item in items:
            graded[item] = max(graded.get(item, 0), grade)
    return {item: g for item, g in graded.items() if g > 0}


def score(ranked: Sequence[Any], relevant: dict[Any, int], k: int) -> RankingScores:
    """Precision, recall and NDCG at ``k`` of one ranked list against graded items."""
    top = _first_k_distinct(ranked, k)
    hits = [relevant.get(item, 0) for item in top]
    found = sum(1 for g in hits if g > 0)
    precision = found / k
    recall = found / len(relevant) if relevant else None
    ideal = sorted(relevant.values(), reverse=True)[:k]
    best = _dcg(ideal)
    ndcg = _dcg(hits) / best if best > 0 else 0.0
    return RankingScores(precision, recall, ndcg)


def metric_of(scores: RankingScores, metric: str) -> float | None:
    return getattr(scores, metric)


def coverage(lists: Iterable[Sequence[Any]], k: int, catalog_size: int) -> float | None:
    """Distinct items in the top ``k`` of ``lists`` ÷ ``catalog_size`` (None without one)."""
    if catalog_size <= 0:
        return None
    shown = set()
    for ranked in lists:
        shown.update(_first_k_distinct(ranked, k))
    return min(len(shown) / catalog_size, 1.0)


def summary(rows: Sequence[tuple[Sequence[Any], dict[Any, int]]], k: int) -> dict[str, Any]:
    """Mean precision, recall and NDCG at ``k`` over (ranked list, grades) rows: recall
    over the rows with something relevant; None where no row counts."""
    scored = [score(ranked, relevant, k) for ranked, relevant in rows]
    recalls = [s.recall for s in scored if s.recall is not None]
    return {
        "labelled": len(scored),
        f"precision@{k}": _mean([s.precision for s in scored]),
        f"recall@{k}": _mean(recalls),
        f"ndcg@{k}": _mean([s.ndcg for s in scored]),
    }


def _first_k_distinct(ranked: Sequence[Any], k: int) -> list[Any]:
    seen: set[Any] = set()
    top: list[Any] = []
    for item in ranked:
        if len(top) == k:
            break
        if item not in seen:
            seen.add(item)
            top.append(item)
    return top


def _dcg(grades_in_order: Sequence[int]) -> float:
    return sum(
        (2.0**g - 1.0) / math.log2(rank + 2) for rank, g in enumerate(grades_in_order) if g > 0
    )


def _mean(values: Sequence[float]) -> float | None:
    return math.fsum(values) / len(values) if values else None
