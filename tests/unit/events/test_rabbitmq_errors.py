"""How the RabbitMQ bus names a broker that went away mid-call (no broker needed)."""

from __future__ import annotations

import asyncio

import pytest

from ailayer.core.errors import BackendUnavailable
from ailayer.events.brokers.rabbitmq import RabbitMQBus


def _raise_inside_answers(exc: BaseException) -> None:
    bus = RabbitMQBus.from_url("amqp://guest:secret@localhost:5672/")

    async def call() -> None:
        async with bus.answers():
            raise exc

    asyncio.run(call())


def test_a_channel_closed_without_a_reason_is_a_backend_outage() -> None:
    # aiormq rejects waiting calls with a bare Exception when a cut connection closes
    # their channel; the consumer's lag watcher crashed the runner on it.
    with pytest.raises(BackendUnavailable, match="closed the channel") as caught:
        _raise_inside_answers(Exception())
    assert "secret" not in str(caught.value)


def test_other_errors_pass_through_unchanged() -> None:
    with pytest.raises(ValueError):
        _raise_inside_answers(ValueError("a bug, not an outage"))
