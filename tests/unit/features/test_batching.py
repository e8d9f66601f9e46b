"""Concurrent online reads on one event loop share one store round trip."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ailayer.core.errors import BackendUnavailable
from ailayer.features.batching import ReadBatcher
from ailayer.features.stores import entity_key, open_online_store
from ailayer.features.stores.online import OnlineRow, OnlineStore, OnlineValue, Read


class Recording:
    """A real SQLite store that records each ``read_many`` it is asked for."""

    def __init__(self, store: OnlineStore) -> None:
        self.store = store
        self.calls: list[int] = []

    def read_many(self, reads: Sequence[Read]) -> list[list[OnlineValue | None]]:
        self.calls.append(len(reads))
        return self.store.read_many(reads)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[OnlineStore]:
    built = open_online_store(f"sqlite:///{tmp_path / 'online.db'}")
    now = datetime.now(UTC)
    built.write_batch("t1", "v@1", [OnlineRow(entity_key([k]), now, {"x": k}) for k in range(10)])
    yield built
    built.close()


def reads_of(*keys: int) -> list[Read]:
    return [Read("t1", "v@1", [entity_key([k])], ["x"]) for k in keys]


def values(found: list[list[OnlineValue | None]]) -> list:
    return [[None if v is None else v.values["x"] for v in per_read] for per_read in found]


def test_requests_of_one_loop_iteration_share_one_read(store: OnlineStore) -> None:
    recording = Recording(store)
    batcher = ReadBatcher(recording)  # type: ignore[arg-type]

    async def scenario() -> list:
        return await asyncio.gather(
            batcher.read(reads_of(1)), batcher.read(reads_of(2, 3)), batcher.read(reads_of(42))
        )

    answers = asyncio.run(scenario())
    assert [values(a) for a in answers] == [[[1]], [[2], [3]], [[None]]]
    assert recording.calls == [4]  # one store call for the three requests' four reads
    assert (batcher.batches, batcher.requests) == (1, 3)

    async def one_after_another() -> list:
        return [await batcher.read(reads_of(k)) for k in (4, 5)]

    assert [values(a) for a in asyncio.run(one_after_another())] == [[[4]], [[5]]]
    assert recording.calls == [4, 1, 1]


class Failing(Recording):
    def read_many(self, reads: Sequence[Read]) -> list[list[OnlineValue | None]]:
        raise BackendUnavailable("the online store (Redis) is unavailable; retry shortly")


def test_a_failed_read_fails_every_request_of_its_batch(store: OnlineStore) -> None:
    batcher = ReadBatcher(Failing(store))  # type: ignore[arg-type]

    async def scenario() -> list:
        return await asyncio.gather(
            batcher.read(reads_of(1)), batcher.read(reads_of(2)), return_exceptions=True
        )

    outcomes = asyncio.run(scenario())
    assert all(isinstance(o, BackendUnavailable) for o in outcomes)


def test_a_cancelled_request_does_not_disturb_the_others(store: OnlineStore) -> None:
    recording = Recording(store)
    batcher = ReadBatcher(recording)  # type: ignore[arg-type]

    async def scenario() -> list:
        gone = asyncio.ensure_future(batcher.read(reads_of(1)))
        kept = asyncio.ensure_future(batcher.read(reads_of(2)))
        await asyncio.sleep(0)  # both are queued
        gone.cancel()
        return values(await kept)

    assert asyncio.run(scenario()) == [[2]]
    assert recording.calls == [2]
