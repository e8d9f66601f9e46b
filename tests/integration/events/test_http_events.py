"""``POST /v1/events`` with a network broker (Redis) behind the real app: 202 means the
events are in the stream; a malformed batch publishes nothing; an outage is 503."""

from __future__ import annotations

import asyncio
import uuid

import orjson
from fastapi.testclient import TestClient

from ailayer.bootstrap import Services
from ailayer.events import open_bus
from tests.support.api import make_api
from tests.support.events_api import VALID, app_with_events

BATCH = {"content-type": "application/cloudevents-batch+json"}


async def _stream(topic: str) -> list[str]:
    bus = open_bus("redis://127.0.0.1:6379/0")
    sub = await bus.subscribe(topic, "workers", "reader")
    ids = [d.event.id for d in await sub.fetch(100, timeout=0.2)]
    await bus.delete_topic(topic, ("workers",))
    await bus.close()
    return ids


def test_batches_reach_redis_all_or_nothing(services: Services) -> None:
    topic = f"t-{uuid.uuid4().hex[:12]}"
    services.bus = open_bus("redis://127.0.0.1:6379/0")  # type: ignore[attr-defined]
    api = make_api(services)
    api.client.close()
    headers = {**api.headers("service"), **BATCH}
    with TestClient(app_with_events(services)) as client:  # one event loop for the bus
        good = [{**VALID, "id": f"ok-{i}"} for i in range(3)]
        bad = [*good, {**VALID, "id": "x", "time": "noon"}]
        url = f"/v1/events?topic={topic}"
        refused = client.post(url, content=orjson.dumps(bad), headers=headers)
        accepted = client.post(url, content=orjson.dumps(good), headers=headers)
        client.portal.call(services.bus.close)  # type: ignore[attr-defined,union-attr]
        services.bus = open_bus("redis://127.0.0.1:1/0")  # type: ignore[attr-defined]
        down = client.post(url, content=orjson.dumps(good), headers=headers)
        client.portal.call(services.bus.close)  # type: ignore[attr-defined,union-attr]
    assert refused.status_code == 422 and refused.json()["error"]["field"] == "3.time"
    assert accepted.status_code == 202
    assert down.status_code == 503 and down.headers["retry-after"]
    assert asyncio.run(_stream(topic)) == ["ok-0", "ok-1", "ok-2"]
