"""What ``?maxlen=N`` does to a publisher that outruns its consumers, per broker.

The embedded bus and JetStream stay bounded by dropping their oldest events; RabbitMQ
refuses further publishes with ``BackendUnavailable`` (quorum queues enforce the limit
give or take one), so the publisher slows down instead of the broker growing.
"""

from __future__ import annotations

import dataclasses

import pytest

from ailayer.core.errors import BackendUnavailable
from ailayer.events import EventBus
from ailayer.events.brokers import embedded
from tests.support.brokers import Backend, collect
from tests.support.events import events, numbers

pytestmark = pytest.mark.integration


def test_maxlen_bounds_what_a_topic_holds(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    if backend.name == "redis":
        pytest.skip("redis trims with MAXLEN ~, whole macro nodes at a time: not exact")
    monkeypatch.setattr(embedded, "TRIM_EVERY", 1)
    limited = dataclasses.replace(backend, url=f"{backend.url}?maxlen=5")

    async def scenario(bus: EventBus, topic: str) -> None:
        sub = await bus.subscribe(topic, "workers", "c1", ack_wait=5.0)
        await bus.publish(topic, events(5))
        if backend.name == "amqp":
            with pytest.raises(BackendUnavailable, match="full"):
                for n in range(5, 8):
                    await bus.publish(topic, events(1, start=n))
            assert 5 <= await bus.lag(topic, "workers") <= 6
        else:
            await bus.publish(topic, events(5, start=5))
            got = await collect(sub, 5)
            assert numbers(got) == [5, 6, 7, 8, 9]  # the oldest five were dropped unread
        await sub.close()

    limited.run(scenario)
