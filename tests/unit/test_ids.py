"""Ids: one at a time or in bulk, the same time-ordered layout, and never repeated."""

from __future__ import annotations

import re
import time

import pytest

from ailayer.core.ids import new_id, new_id_block, new_ids

LAYOUT = re.compile(r"^[0-9a-f]{12}7[0-9a-f]{19}$")  # 48-bit millis, version 7, random


def millis_of(identifier: str) -> int:
    return int(identifier[:12], 16)


def test_one_id_has_the_layout_and_the_time() -> None:
    before = time.time_ns() // 1_000_000
    made = new_id()
    after = time.time_ns() // 1_000_000

    assert LAYOUT.match(made)
    assert before <= millis_of(made) <= after


@pytest.mark.parametrize("count", [1, 2, 7, 1000])
def test_ids_in_bulk_have_the_same_layout_and_time(count: int) -> None:
    before = time.time_ns() // 1_000_000
    made = new_ids(count)
    after = time.time_ns() // 1_000_000

    assert len(made) == count
    assert all(LAYOUT.match(i) for i in made), made[:3]
    assert all(before <= millis_of(i) <= after for i in made)


def test_ids_in_bulk_are_unique_within_and_across_batches() -> None:
    made = [i for _ in range(20) for i in new_ids(5000)] + [new_id() for _ in range(1000)]

    assert len(set(made)) == len(made)


def test_every_random_nibble_varies_in_bulk() -> None:
    """The version nibble is fixed; every other random hex position takes many values."""
    made = new_ids(2000)

    for position in range(13, 32):
        assert len({i[position] for i in made}) > 8, position


def test_no_ids_for_a_count_of_zero() -> None:
    assert new_ids(0) == []


@pytest.mark.parametrize("count", [0, 1, 1000])
def test_an_id_block_shows_the_same_ids_as_texts_and_back_to_back(count: int) -> None:
    block = new_id_block(count)
    texts = block.texts()

    assert len(block) == len(texts) == count
    assert all(LAYOUT.match(i) for i in texts)
    assert block.hex() == "".join(texts).encode()
