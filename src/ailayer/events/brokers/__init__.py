"""Bus backends, one module each, chosen by the scheme of the ``event_bus`` URL.

The registry below is explicit: adding a broker is one module plus one line here. Each
factory imports its client library only when called, so importing ailayer never pulls in
``redis``, ``nats`` or ``aio_pika``, and building a bus does no I/O (it connects on first use).
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from ailayer.core.errors import InvalidInput
from ailayer.events.bus import EventBus


def _embedded(url: str) -> EventBus:
    from ailayer.events.brokers.embedded import EmbeddedBus

    return EmbeddedBus.from_url(url)


def _redis(url: str) -> EventBus:
    from ailayer.events.brokers.redis_streams import RedisStreamsBus

    return RedisStreamsBus.from_url(url)


def _nats(url: str) -> EventBus:
    from ailayer.events.brokers.nats_jetstream import JetStreamBus

    return JetStreamBus.from_url(url)


def _amqp(url: str) -> EventBus:
    from ailayer.events.brokers.rabbitmq import RabbitMQBus

    return RabbitMQBus.from_url(url)


BROKERS: dict[str, Callable[[str], EventBus]] = {
    "embedded": _embedded,
    "redis": _redis,
    "nats": _nats,
    "amqp": _amqp,
}


def open_bus(url: str) -> EventBus:
    """The bus for ``url``; no connection is made until it is first used."""
    scheme = urlsplit(url).scheme
    factory = BROKERS.get(scheme)
    if factory is None:
        known = ", ".join(f"{name}://" for name in BROKERS)
        raise InvalidInput(f"event_bus must be one of {known} URLs; got {url!r}", field="event_bus")
    return factory(url)
