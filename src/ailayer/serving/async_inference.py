"""Async inference: an endpoint bound to an event type, answering on the bus.

``AsyncInference`` is a consumer-runner handler: for each event of ``event_type`` (of its
tenant) it builds the prediction request from the event's data, predicts with
``Predictor.predict`` — the same path as ``POST /v1/predict`` — and publishes one result
event per prediction request to ``result_topic``:

    type     ailayer.prediction.completed (or ``result_type``)
    subject  the source event's id
    data     {"endpoint", "model", "version", "alias", "predictions": [{prediction_id,
              prediction, score?, probabilities?}], "source": {"id", "type", "subject"}}

Events of other tenants or types are skipped (``SKIPPED``: acked in the worker's group,
recorded nowhere), so a tenant's worker needs a group of its own (``inference_group``).
Idempotent on redelivery: copies of one event handled at the same time share one answer;
the result's id is derived from (endpoint, source event id), so
the same source event always yields the same result id; the runner's idempotency store
skips a source event once its handler returned, and in the window between publishing and
recording, a repeated result carries the same id, which consumers drop (ids are unique
per topic). Bad input (a 4xx from the predict path) is retried and then dead-lettered with
its error by the runner, like any failing handler.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Mapping
from typing import Any

import orjson

from ailayer.core.errors import InvalidInput
from ailayer.core.names import BUS_NAME_MAX, check_bus_name
from ailayer.events.bus import EventBus
from ailayer.events.envelope import Event, now_rfc3339
from ailayer.events.handlers import SKIPPED, Skipped
from ailayer.events.scope import tenant_tag
from ailayer.serving.predict import Predictor

RESULT_TYPE = "ailayer.prediction.completed"
RESULT_SOURCE = "/ailayer/inference"


def inference_group(tenant_id: str, endpoint: str) -> str:
    """``infer-<tenant tag>-<endpoint>``, a worker's default group. One per tenant: a
    worker acks the events it skips, so two tenants' workers sharing a group would each
    take the other's events away."""
    name = re.sub(r"[^a-z0-9_-]", "-", endpoint.lower())
    return check_bus_name("group", f"infer-{tenant_tag(tenant_id)}-{name}"[:BUS_NAME_MAX])


def result_id(endpoint: str, source_id: str) -> str:
    """The same 32-hex id for the same (endpoint, source event), every time."""
    return hashlib.sha256(f"{endpoint}\x00{source_id}".encode()).hexdigest()[:32]


class AsyncInference:
    """Handler: one source event → one prediction request → one result event."""

    def __init__(
        self,
        predictor: Predictor,
        bus: EventBus,
        tenant_id: str,
        endpoint: str,
        result_topic: str,
        *,
        event_type: str | None = None,
        result_type: str = RESULT_TYPE,
    ) -> None:
        self.predictor, self.bus, self.tenant_id = predictor, bus, tenant_id
        self.endpoint, self.result_topic = endpoint, result_topic
        self.event_type, self.result_type = event_type, result_type
        self.skipped = 0
        self._running: dict[str, asyncio.Task[None]] = {}

    async def __call__(self, event: Event) -> Skipped | None:
        if event.tenant != self.tenant_id or (
            self.event_type is not None and event.type != self.event_type
        ):
            self.skipped += 1
            return SKIPPED  # acked, not recorded: the id may be another tenant's too
        running = self._running.get(event.id)
        if running is not None:  # the same event twice in one fetch: answer it once
            await asyncio.shield(running)
            return None
        task = self._running[event.id] = asyncio.ensure_future(self._answer(event))
        task.add_done_callback(lambda _: self._running.pop(event.id, None))
        await asyncio.shield(task)
        return None

    async def _answer(self, event: Event) -> None:
        """Predict inside a span that continues the source event's trace (its
        ``traceparent`` extension); the result event carries this span's own."""
        tracing = self.predictor.tracing
        attributes = {"cloudevents.event_id": event.id, "cloudevents.event_type": event.type}
        with tracing.linked_span(f"infer {self.endpoint}", event.extensions, attributes):
            body = await self.request_body(event)
            response = await self.predictor.predict(self.tenant_id, self.endpoint, body)
            result = self.result(event, response, tracing.carrier())
        await self.bus.publish(self.result_topic, [result])

    async def request_body(self, event: Event) -> bytes:
        """The event's data as a predict body, cut to the model's inputs when it has no
        feature lookups (so extra event fields such as ids do not fail validation)."""
        data = event.data
        if not isinstance(data, Mapping):
            raise InvalidInput(f"event {event.id}: data must be an object", field="data")
        target = await self.predictor.target(self.tenant_id, self.endpoint)
        if not target.version.feature_refs and "records" not in data:
            data = {name: data[name] for name in target.signature.names if name in data}
        return orjson.dumps(data)

    def result(
        self, event: Event, response: dict[str, Any], trace: dict[str, str] | None = None
    ) -> Event:
        return Event(
            id=result_id(self.endpoint, event.id),
            source=RESULT_SOURCE,
            type=self.result_type,
            subject=event.id,
            tenant=self.tenant_id,
            time=now_rfc3339(),
            partitionkey=event.partitionkey,
            data={
                **response,
                "source": {"id": event.id, "type": event.type, "subject": event.subject},
            },
            extensions=trace or {},
        )
