"""Choosing a broker by URL scheme: explicit registry, options, and no I/O until used."""

from __future__ import annotations

import subprocess
import sys

import pytest

import ailayer.events
from ailayer.core.errors import InvalidInput
from ailayer.events import open_bus
from ailayer.events.brokers import BROKERS
from ailayer.events.bus import BaseBus


def test_public_api_is_what_all_lists() -> None:
    assert sorted(ailayer.events.__all__) == [
        "Backoff",
        "ConsumerRunner",
        "DEFAULT_ACK_WAIT",
        "Delivery",
        "Event",
        "EventBus",
        "Handler",
        "IdempotencyStore",
        "Outbox",
        "OutboxStats",
        "RunnerStats",
        "SKIPPED",
        "Subscription",
        "check_name",
        "new_event",
        "open_bus",
        "open_idempotency_store",
        "run_until_signalled",
    ]


@pytest.mark.parametrize(
    ("url", "cls", "maxlen"),
    [
        ("embedded://.ailayer/bus.db", "EmbeddedBus", 1_000_000),
        ("embedded:///var/lib/bus.db?maxlen=50", "EmbeddedBus", 50),
        ("redis://unreachable.invalid:6379/2?maxlen=10", "RedisStreamsBus", 10),
        ("nats://unreachable.invalid:4222", "JetStreamBus", 1_000_000),
        ("amqp://u:p@unreachable.invalid:5672/vh?maxlen=7", "RabbitMQBus", 7),
    ],
)
def test_each_scheme_builds_its_bus_without_connecting(url: str, cls: str, maxlen: int) -> None:
    bus = open_bus(url)
    assert type(bus).__name__ == cls
    assert bus.maxlen == maxlen  # type: ignore[attr-defined]


def test_every_broker_extends_the_validating_port() -> None:
    """Brokers write only raw calls; ``BaseBus`` checks the arguments of every public one."""
    for scheme in BROKERS:
        bus = open_bus(f"{scheme}://unreachable.invalid/bus.db")
        assert isinstance(bus, BaseBus), scheme
        for name in ("publish", "subscribe", "lag", "delete_topic"):
            assert getattr(type(bus), name) is getattr(BaseBus, name), (scheme, name)


def test_embedded_path_is_the_rest_of_the_url() -> None:
    assert str(open_bus("embedded://.ailayer/bus.db").path) == ".ailayer/bus.db"  # type: ignore[attr-defined]
    assert str(open_bus("embedded:///srv/bus.db").path) == "/srv/bus.db"  # type: ignore[attr-defined]


def test_unknown_scheme_lists_the_known_ones() -> None:
    with pytest.raises(InvalidInput, match="embedded://, redis://, nats://, amqp://") as caught:
        open_bus("kafka://broker:9092")
    assert caught.value.field == "event_bus"
    assert set(BROKERS) == {"embedded", "redis", "nats", "amqp"}


def test_bad_option_values_name_the_option() -> None:
    with pytest.raises(InvalidInput, match="option maxlen must be int"):
        open_bus("redis://localhost:6379/0?maxlen=lots")
    with pytest.raises(InvalidInput, match="needs a file path"):
        open_bus("embedded://")


def test_importing_the_package_loads_no_broker_client() -> None:
    code = (
        "import sys, ailayer.events; "
        "print([m for m in ('redis', 'nats', 'aio_pika') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_rabbitmq_delays_round_up_to_a_rung() -> None:
    from ailayer.events.brokers.rabbitmq import RETRY_RUNGS, retry_queue_name, retry_rung

    assert [retry_rung(d) for d in (0.01, 0.25, 0.3, 7, 86_400)] == [0.25, 0.25, 1, 15, 3600]
    assert retry_queue_name("payments", "workers", 0.25) == "ailayer.payments.workers.retry.250ms"
    assert list(RETRY_RUNGS) == sorted(RETRY_RUNGS)
