"""The event backbone: CloudEvents envelopes on a bus with pluggable brokers, a consumer
runner (retries, dead letters, idempotent handlers) and an outbox for producers."""

from ailayer.core.names import check_bus_name as check_name  # public: a bus name's check
from ailayer.events.brokers import open_bus
from ailayer.events.bus import DEFAULT_ACK_WAIT, Delivery, EventBus, Subscription
from ailayer.events.consumer import ConsumerRunner, RunnerStats, run_until_signalled
from ailayer.events.envelope import Event, new_event
from ailayer.events.handlers import SKIPPED, Handler
from ailayer.events.idempotency import IdempotencyStore, open_idempotency_store
from ailayer.events.outbox import Outbox, OutboxStats
from ailayer.events.retry import Backoff

__all__ = [
    "DEFAULT_ACK_WAIT",
    "SKIPPED",
    "Backoff",
    "ConsumerRunner",
    "Delivery",
    "Event",
    "EventBus",
    "Handler",
    "IdempotencyStore",
    "Outbox",
    "OutboxStats",
    "RunnerStats",
    "Subscription",
    "check_name",
    "new_event",
    "open_bus",
    "open_idempotency_store",
    "run_until_signalled",
]
