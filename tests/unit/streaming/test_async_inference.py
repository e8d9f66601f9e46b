"""Async inference on the embedded bus: one result per source event, even when redelivered."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import orjson

from ailayer.events import ConsumerRunner, open_bus
from ailayer.events.envelope import new_event
from ailayer.serving.async_inference import RESULT_TYPE, AsyncInference, result_id


class StubPredictor:
    """Stands in for ``Predictor``: a model with one string input, ``text``."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []

    async def target(self, tenant: str, endpoint: str) -> Any:
        return SimpleNamespace(
            version={"feature_refs": []}, signature=SimpleNamespace(names=("text",))
        )

    async def predict(self, tenant: str, endpoint: str, body: bytes) -> dict[str, Any]:
        self.bodies.append(orjson.loads(body))
        return {"endpoint": endpoint, "model": "sentiment", "version": 1, "alias": "champion",
                "predictions": [{"prediction_id": f"p{len(self.bodies)}", "prediction": 1}]}  # fmt: skip


def test_each_source_event_gets_exactly_one_result(tmp_path: Path) -> None:
    async def main() -> list[Any]:
        bus = open_bus(f"embedded://{tmp_path / 'bus.db'}")
        predictor = StubPredictor()
        review = new_event("review.submitted", "/app", {"review_id": "r1", "text": "great"},
                           tenant="t1", subject="r1")  # fmt: skip
        other = new_event("review.submitted", "/app", {"text": "x"}, tenant="t2")
        ignored = new_event("review.deleted", "/app", {"text": "x"}, tenant="t1")
        await bus.publish("reviews", [review, review, other, ignored])
        handler = AsyncInference(predictor, bus, "t1", "sentiment", "scored",  # type: ignore[arg-type]
                                 event_type="review.submitted")  # fmt: skip
        runner = ConsumerRunner(bus, "reviews", "infer", handler, stop_when_idle=True,
                                fetch_timeout=0.05, lag_interval=0.05)  # fmt: skip
        stats = await runner.run()
        sub = await bus.subscribe("scored", "check", "c", ack_wait=1)
        results = await sub.fetch(10, timeout=0.5)
        await sub.close()
        await bus.close()
        assert (stats.processed, stats.duplicates, handler.skipped) == (
            4,
            0,
            2,
        )  # both copies ran at once; they shared one answer
        assert predictor.bodies == [{"text": "great"}]  # cut to the model's inputs
        return [(d.event, review) for d in results]

    [(result, review)] = asyncio.run(main())
    assert result.type == RESULT_TYPE and result.subject == review.id
    assert result.id == result_id("sentiment", review.id) and result.tenant == "t1"
    assert result.data["predictions"][0]["prediction_id"] == "p1"
    assert result.data["source"] == {"id": review.id, "type": "review.submitted", "subject": "r1"}
