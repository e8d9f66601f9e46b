"""Async inference on the embedded bus: one result per source event, even when redelivered."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import orjson
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from ailayer.core.tracing import TRACING_OFF, Tracing, make_provider
from ailayer.events import ConsumerRunner, open_bus, open_idempotency_store
from ailayer.events.envelope import Event, new_event
from ailayer.serving.async_inference import (
    RESULT_TYPE,
    AsyncInference,
    inference_group,
    result_id,
)


class StubPredictor:
    """Stands in for ``Predictor``: a model with one string input, ``text``."""

    def __init__(self, tracing: Tracing = TRACING_OFF) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.tracing = tracing

    async def target(self, tenant: str, endpoint: str) -> Any:
        return SimpleNamespace(
            version=SimpleNamespace(feature_refs=[]), signature=SimpleNamespace(names=("text",))
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
        assert (stats.processed, stats.duplicates, stats.skipped, handler.skipped) == (
            2,
            0,
            2,
            2,
        )  # both copies ran at once; they shared one answer
        assert predictor.bodies == [{"text": "great"}]  # cut to the model's inputs
        return [(d.event, review) for d in results]

    [(result, review)] = asyncio.run(main())
    assert result.type == RESULT_TYPE and result.subject == review.id
    assert result.id == result_id("sentiment", review.id) and result.tenant == "t1"
    assert result.data["predictions"][0]["prediction_id"] == "p1"
    assert result.data["source"] == {"id": review.id, "type": "review.submitted", "subject": "r1"}


def test_another_tenants_event_with_the_same_id_does_not_suppress_ours(tmp_path: Path) -> None:
    """Tenant B's ``pay-2001`` came first; tenant A's ``pay-2001`` is still scored, with
    the idempotency store every worker of the machine shares."""

    async def main() -> tuple[Any, list[Event]]:
        bus = open_bus(f"embedded://{tmp_path / 'bus.db'}")
        store = open_idempotency_store(f"sqlite:///{tmp_path / 'idem.db'}")
        theirs = Event(id="pay-2001", source="/billing", type="payment.created",
                       data={"text": "theirs"}, tenant="t2")  # fmt: skip
        ours = replace(theirs, data={"text": "ours"}, tenant="t1")
        await bus.publish("payments", [theirs, ours])
        predictor = StubPredictor()
        handler = AsyncInference(predictor, bus, "t1", "fraud", "scored")  # type: ignore[arg-type]
        runner = ConsumerRunner(bus, "payments", inference_group("t1", "fraud"), handler,
                                idempotency=store, concurrency=1, stop_when_idle=True,
                                fetch_timeout=0.05, lag_interval=0.05)  # fmt: skip
        stats = await runner.run()
        sub = await bus.subscribe("scored", "check", "c", ack_wait=1)
        results = [d.event for d in await sub.fetch(10, timeout=0.5)]
        await sub.close()
        await store.close()
        await bus.close()
        return (stats, predictor.bodies), results

    (stats, bodies), results = asyncio.run(main())
    assert bodies == [{"text": "ours"}]
    assert [(r.tenant, r.subject) for r in results] == [("t1", "pay-2001")]
    assert (stats.processed, stats.skipped, stats.duplicates) == (1, 1, 0)


def test_inference_groups_are_per_tenant() -> None:
    """Two tenants' workers for one endpoint must not share a group: each would ack (and
    so take from the other) the events it skips."""
    first, second = "0" * 24 + "aaaaaaaa", "1" * 24 + "aaaaaaaa"
    assert inference_group(first, "fraud") != inference_group(second, "fraud")
    assert inference_group(first, "Fraud") == inference_group(first, "fraud")
    group = inference_group(first, "Fraud.v2")
    assert group.startswith("infer-") and group.endswith("-fraud-v2")


PRODUCER_TRACE = 0x4BF92F3577B34DA6A3CE929D0E0E4736
PRODUCER_SPAN = 0x00F067AA0BA902B7


def answer_one(bus_path: Path, predictor: StubPredictor, event: Event) -> Event:
    """Publish ``event``, run an inference worker until idle, and return the result."""

    async def main() -> Event:
        bus = open_bus(f"embedded://{bus_path}")
        await bus.publish("reviews", [event])
        handler = AsyncInference(predictor, bus, "t1", "sentiment", "scored")  # type: ignore[arg-type]
        runner = ConsumerRunner(bus, "reviews", "infer", handler, stop_when_idle=True,
                                fetch_timeout=0.05, lag_interval=0.05)  # fmt: skip
        await runner.run()
        sub = await bus.subscribe("scored", "check", "c", ack_wait=1)
        [result] = await sub.fetch(10, timeout=0.5)
        await sub.close()
        await bus.close()
        return result.event

    return asyncio.run(main())


def test_inference_continues_the_source_events_trace(tmp_path: Path) -> None:
    """The event's ``traceparent`` extension (CloudEvents distributed tracing) is the
    parent of the inference span; the result event names that span in turn."""
    spans = InMemorySpanExporter()
    tracing = Tracing(make_provider(spans, batch=False))
    traceparent = f"00-{PRODUCER_TRACE:032x}-{PRODUCER_SPAN:016x}-01"
    review = new_event("review.submitted", "/app", {"text": "great"}, tenant="t1")
    review = replace(review, extensions={"traceparent": traceparent})
    result = answer_one(tmp_path / "bus.db", StubPredictor(tracing), review)
    tracing.shutdown()
    [span] = spans.get_finished_spans()
    assert span.name == "infer sentiment" and span.kind == SpanKind.CONSUMER
    assert span.context.trace_id == PRODUCER_TRACE
    assert span.parent is not None and span.parent.span_id == PRODUCER_SPAN
    assert result.extensions["traceparent"] == (
        f"00-{PRODUCER_TRACE:032x}-{span.context.span_id:016x}-01"
    )


def test_no_trace_fields_on_results_when_tracing_is_off(tmp_path: Path) -> None:
    review = new_event("review.submitted", "/app", {"text": "x"}, tenant="t1")
    assert answer_one(tmp_path / "bus.db", StubPredictor(), review).extensions == {}
