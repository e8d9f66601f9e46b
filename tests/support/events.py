"""Events for the event tests: numbered payments, an embedded bus, a bus that can go down."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ailayer.core.errors import BackendUnavailable
from ailayer.events import Delivery, Event, EventBus, new_event, open_bus


def embedded_bus(tmp_path: Path) -> EventBus:
    return open_bus(f"embedded://{tmp_path / 'bus.db'}")


def events(
    count: int, *, start: int = 0, tenant: str = "acme", key: str | None = None
) -> list[Event]:
    """``count`` payment events numbered ``start``, ``start + 1``, ... in ``data["n"]``."""
    return [
        new_event("payment.created", "/billing", {"n": i}, tenant=tenant, partition_key=key)
        for i in range(start, start + count)
    ]


def numbers(items: Sequence[Event | Delivery]) -> list[int]:
    """The number of each event, or of each delivery's event, in order."""
    return [(item.event if isinstance(item, Delivery) else item).data["n"] for item in items]


class FlakyBus:
    """A real bus whose ``publish`` can be switched off, like a broker outage."""

    def __init__(self, inner: EventBus) -> None:
        self.inner = inner
        self.down = False
        self.calls = 0

    async def publish(self, topic: str, events: Sequence[Event]) -> None:
        self.calls += 1
        if self.down:
            raise BackendUnavailable("the broker is down (test)")
        await self.inner.publish(topic, events)

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        return getattr(self.inner, name)
