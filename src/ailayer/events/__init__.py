"""The event backbone: CloudEvents envelopes on a bus with pluggable brokers."""

from ailayer.events.brokers import open_bus
from ailayer.events.bus import DEFAULT_ACK_WAIT, Delivery, EventBus, Subscription, check_name
from ailayer.events.envelope import Event, new_event

__all__ = [
    "DEFAULT_ACK_WAIT",
    "Delivery",
    "Event",
    "EventBus",
    "Subscription",
    "check_name",
    "new_event",
    "open_bus",
]
