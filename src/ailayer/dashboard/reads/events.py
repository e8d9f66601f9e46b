"""The events page's data: consumer groups' lag on the topics the console is told of,
and the signed-in tenant's dead letters (replayed through the same function as
``ailayer events dlq replay``, limited to the tenant's own events)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ailayer.core.errors import BackendUnavailable
from ailayer.events.bus import EventBus
from ailayer.events.deadletter import (
    dead_letter_topic,
    list_dead_letters,
    replay_dead_letters,
)
from ailayer.events.envelope import Event

DEAD_LETTERS_SHOWN = 100


@dataclass(frozen=True)
class GroupLag:
    topic: str
    group: str
    lag: int | None  # None: the broker could not say (``error`` tells why)
    error: str | None = None


@dataclass(frozen=True)
class DeadLetter:
    id: str
    type: str
    topic: str | None
    group: str | None
    error: str | None
    attempts: Any
    time: Any
    replays: int

    @classmethod
    def of(cls, event: Event) -> DeadLetter:
        x = event.extensions
        return cls(
            event.id,
            event.type,
            x.get("dlqtopic"),
            x.get("dlqgroup"),
            x.get("dlqerror"),
            x.get("dlqattempts"),
            x.get("dlqtime"),
            int(x.get("dlqreplays", 0) or 0),
        )


async def lags(bus: EventBus, topics: Mapping[str, Sequence[str]]) -> list[GroupLag]:
    """Each (topic, group)'s lag; a broker that is down is reported per row, not raised."""
    found = []
    for topic, groups in sorted(topics.items()):
        for group in groups:
            try:
                found.append(GroupLag(topic, group, await bus.lag(topic, group)))
            except BackendUnavailable as exc:
                found.append(GroupLag(topic, group, None, str(exc)))
    return found


def _mine(tenant_id: str):  # type: ignore[no-untyped-def]
    return lambda event: event.tenant == tenant_id


async def dead_letters(
    bus: EventBus, tenant_id: str, topic: str, limit: int = DEAD_LETTERS_SHOWN
) -> list[DeadLetter]:
    """The tenant's dead letters of ``topic`` among its first ``limit``, left in place."""
    letters = await list_dead_letters(bus, dead_letter_topic(topic), limit, chosen=_mine(tenant_id))
    return [DeadLetter.of(e) for e in letters]


async def replay(
    bus: EventBus, tenant_id: str, topic: str, limit: int = DEAD_LETTERS_SHOWN
) -> list[tuple[str, str]]:
    """Republish the tenant's dead letters of ``topic`` (among its first ``limit``) to the
    topic each failed on; (topic, event id) pairs. Others' letters stay where they are."""
    replayed = await replay_dead_letters(
        bus, dead_letter_topic(topic), limit, default_topic=topic, chosen=_mine(tenant_id)
    )
    return [(t, e.id) for t, e in replayed]
