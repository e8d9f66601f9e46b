"""Micro-batching: concurrent requests to one model version share one model call, each gets
its own rows back, a bad record fails only its own request, and the window and the batch
size are bounded."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import orjson
import pytest
import skops.io as sio
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

from ailayer.bootstrap import Services, build
from ailayer.core.errors import ModelError
from ailayer.models.flavors import LoadedModel, Predictions, get_flavor
from ailayer.serving.batching import MicroBatcher
from tests.support.services import TinyModel, tiny_sklearn_model
from tests.support.tenant_models import register

KEY = ("tenant", "fraud", 1, "sha")


class Counting:
    """A real loaded model that records the rows of each ``predict`` call."""

    def __init__(self, model: LoadedModel) -> None:
        self.model = model
        self.calls: list[int] = []

    def predict(self, features: np.ndarray) -> Predictions:
        self.calls.append(len(features))
        return self.model.predict(features)


@pytest.fixture
def model() -> Counting:
    return Counting(get_flavor("sklearn").load(tiny_sklearn_model().artifact))


def rows(*amounts: float) -> np.ndarray:
    return np.array([[amount, 30.0] for amount in amounts])


def alone(model: Counting, matrix: np.ndarray) -> object:
    """The scores of ``matrix`` predicted on its own; a batch may round the last bit
    differently (BLAS sums a larger product in another order)."""
    scores = model.model.predict(matrix).scores
    assert scores is not None
    return pytest.approx(scores, rel=1e-12, abs=1e-15)


def test_concurrent_requests_share_one_call_and_get_their_own_rows(model: Counting) -> None:
    batcher = MicroBatcher(max_batch=64, max_wait_ms=20)
    asks = [rows(100.0), rows(900.0, 50.0), rows(650.0), rows(10.0, 990.0, 700.0)]

    async def scenario() -> list[Predictions]:
        return await asyncio.gather(*(batcher.predict(KEY, model, m) for m in asks))

    answers = asyncio.run(scenario())
    assert model.calls == [7]  # one call for the four requests' seven rows
    for ask, answer in zip(asks, answers, strict=True):
        assert answer.scores == alone(model, ask)
        assert len(answer.values) == len(ask)
    assert (batcher.calls, batcher.requests) == (1, 4)


def test_other_model_versions_are_batched_apart(model: Counting) -> None:
    other = Counting(model.model)
    batcher = MicroBatcher(max_batch=64, max_wait_ms=20)

    async def scenario() -> None:
        await asyncio.gather(
            batcher.predict(KEY, model, rows(1.0)),
            batcher.predict(("tenant", "fraud", 2, "sha2"), other, rows(2.0)),
            batcher.predict(KEY, model, rows(3.0)),
        )

    asyncio.run(scenario())
    assert (model.calls, other.calls) == ([2], [1])


def test_a_lone_request_waits_at_most_the_window(model: Counting) -> None:
    batcher = MicroBatcher(max_batch=64, max_wait_ms=300)

    async def timed() -> float:
        started = time.perf_counter()
        await batcher.predict(KEY, model, rows(500.0))
        return time.perf_counter() - started

    async def scenario() -> list[float]:
        alone = await timed()  # one request at a time: run on the next turn of the loop
        await asyncio.gather(timed(), timed())  # these share a call: the key is busy
        return [alone, await timed(), await timed()]

    alone, in_window, alone_again = asyncio.run(scenario())
    assert alone < 0.2 and alone_again < 0.2  # no 300 ms window for a key used one at a time
    assert in_window >= 0.29  # the key was busy just before: this one waited for the window
    assert model.calls == [1, 2, 1, 1]


def test_a_full_batch_runs_without_waiting_and_max_batch_holds(model: Counting) -> None:
    batcher = MicroBatcher(max_batch=4, max_wait_ms=10_000)  # only size can close a batch

    async def scenario() -> list[Predictions]:
        singles = [batcher.predict(KEY, model, rows(float(i))) for i in range(8)]
        return await asyncio.wait_for(asyncio.gather(*singles), 5)

    answers = asyncio.run(scenario())
    assert model.calls == [4, 4]
    for i, answer in enumerate(answers):
        assert answer.scores == alone(model, rows(float(i)))

    model.calls.clear()
    batcher = MicroBatcher(max_batch=4, max_wait_ms=30)

    async def uneven() -> None:
        await asyncio.gather(
            batcher.predict(KEY, model, rows(1.0, 2.0)),
            batcher.predict(KEY, model, rows(3.0, 4.0, 5.0)),  # 2 + 3 > 4: a new batch
            batcher.predict(KEY, model, rows(*range(6))),  # max_batch rows or more: alone
        )

    asyncio.run(uneven())
    assert sorted(model.calls) == [2, 3, 6]  # 2 and 3 apart (over 4 together), 6 alone


class Strict:
    """A real model that raises on a country it never saw (OneHotEncoder, 'error')."""

    def __init__(self) -> None:
        estimator = make_pipeline(OneHotEncoder(handle_unknown="error"), LogisticRegression())
        estimator.fit([["FR"], ["DE"], ["FR"], ["DE"]], [0, 1, 0, 1])
        signature = {"inputs": [{"name": "country", "type": "string"}]}
        self.tiny = TinyModel(sio.dumps(estimator), signature, estimator)
        self.model = Counting(get_flavor("sklearn").load(self.tiny.artifact))


def countries(*names: str) -> np.ndarray:
    return np.array([[name] for name in names], dtype=object)


def test_a_bad_record_fails_only_its_own_request() -> None:
    strict = Strict()
    batcher = MicroBatcher(max_batch=64, max_wait_ms=20)
    asks = [countries("FR"), countries("XX"), countries("DE", "FR")]

    async def scenario() -> list:
        calls = (batcher.predict(KEY, strict.model, m) for m in asks)
        return await asyncio.gather(*calls, return_exceptions=True)

    good, bad, pair = asyncio.run(scenario())
    assert isinstance(bad, ValueError) and "XX" in str(bad)
    assert good.values == strict.model.model.predict(asks[0]).values
    assert pair.values == strict.model.model.predict(asks[2]).values
    assert strict.model.calls == [4, 1, 1, 2]  # the batch, then each request alone


def test_through_the_predictor_only_the_bad_request_gets_model_error(services: Services) -> None:
    assert services.predictor.batcher is not None  # on by default
    tenant_id = services.keys.create_tenant("acme")
    strict = Strict()
    register(services, tenant_id, "strict", strict.tiny)
    predictor = services.predictor

    async def scenario() -> list:
        await predictor.predict(tenant_id, "strict", b'{"country": "FR"}')  # loads the model
        asks = [{"country": c} for c in ("FR", "XX", "DE")]
        calls = (predictor.predict(tenant_id, "strict", orjson.dumps(a)) for a in asks)
        return await asyncio.gather(*calls, return_exceptions=True)

    before = predictor.batcher.calls
    fr, xx, de = asyncio.run(scenario())
    assert isinstance(xx, ModelError) and "XX" in xx.message and "strict" in xx.message
    assert fr["predictions"][0]["prediction"] == 0 and de["predictions"][0]["prediction"] == 1
    assert predictor.batcher.calls - before == 2  # the warm-up, then the three as one batch


def test_switched_off_the_predictor_calls_the_model_per_request(make_settings) -> None:  # type: ignore[no-untyped-def]
    services = build(make_settings(micro_batching=False))
    try:
        assert services.predictor.batcher is None
    finally:
        services.close()


def test_a_cancelled_request_leaves_the_others_answered(model: Counting) -> None:
    batcher = MicroBatcher(max_batch=64, max_wait_ms=50)

    async def scenario() -> list:
        await asyncio.gather(*(batcher.predict(KEY, model, rows(1.0)) for _ in range(2)))
        model.calls.clear()  # the key is busy now: its batches wait for the window
        first = asyncio.create_task(batcher.predict(KEY, model, rows(100.0)))
        gone = asyncio.create_task(batcher.predict(KEY, model, rows(200.0, 300.0)))
        last = asyncio.create_task(batcher.predict(KEY, model, rows(900.0)))
        await asyncio.sleep(0.01)  # all three are waiting in the window
        gone.cancel()
        return await asyncio.gather(first, gone, last, return_exceptions=True)

    first, gone, last = asyncio.run(scenario())
    assert isinstance(gone, asyncio.CancelledError)
    assert first.scores == alone(model, rows(100.0)) and last.scores == alone(model, rows(900.0))
    assert model.calls == [2]  # the cancelled request's rows were left out
