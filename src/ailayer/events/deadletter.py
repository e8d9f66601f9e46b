"""Dead letters: events that failed ``max_attempts`` times, kept with their error for replay.

A dead letter is the original event, same id, data and attributes, published to the
dead-letter topic (by default ``<topic>-dlq``: topic names allow no dots) with these
CloudEvents extension attributes added:

==============  ======================================================
``dlqtopic``     the topic it was consumed from (where replay sends it)
``dlqgroup``     the consumer group whose handler failed
``dlqerror``     ``ExceptionType: message`` of the last failure (≤ 1,000 chars)
``dlqattempts``  deliveries made before giving up (int)
``dlqtime``      when it was dead-lettered (RFC 3339)
``dlqreplays``   on a replayed event: how many times it was replayed (int)
==============  ======================================================

The dead letters of a topic are the events the group ``dlq`` of the dead-letter topic has
not acked: ``list`` fetches them and hands them back (nack), ``replay`` republishes each to
its ``dlqtopic`` without the ``dlq*`` attributes (but with ``dlqreplays``) and acks it. The
id is kept, so a replayed event that some group did apply meanwhile is skipped there.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Callable

from ailayer.core.errors import InvalidInput
from ailayer.core.names import check_bus_name
from ailayer.events.bus import Delivery, EventBus
from ailayer.events.envelope import Event, now_rfc3339

DLQ_GROUP = "dlq"
DLQ_ACK_WAIT = 60.0
MAX_ERROR_CHARS = 1000
FAILURE_ATTRIBUTES = ("dlqtopic", "dlqgroup", "dlqerror", "dlqattempts", "dlqtime")
REPLAYS = "dlqreplays"


def dead_letter_topic(topic: str) -> str:
    """The default dead-letter topic of ``topic``."""
    return check_bus_name("dead_letter_topic", f"{topic}-dlq")


def describe(error: BaseException) -> str:
    text = f"{type(error).__name__}: {error}"
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 1] + "…"


def dead_letter(
    event: Event, *, topic: str, group: str, error: BaseException, attempts: int
) -> Event:
    """``event`` with the failure attributes added."""
    failure = {
        "dlqtopic": topic,
        "dlqgroup": group,
        "dlqerror": describe(error),
        "dlqattempts": attempts,
        "dlqtime": now_rfc3339(),
    }
    return dataclasses.replace(event, extensions={**event.extensions, **failure})


def original(letter: Event) -> tuple[str | None, Event]:
    """The topic a dead letter came from and the event to republish there."""
    extensions = {k: v for k, v in letter.extensions.items() if k not in FAILURE_ATTRIBUTES}
    extensions[REPLAYS] = int(letter.extensions.get(REPLAYS, 0)) + 1
    topic = letter.extensions.get("dlqtopic")
    return (topic if isinstance(topic, str) else None), dataclasses.replace(
        letter, extensions=extensions
    )


@contextlib.asynccontextmanager
async def held(
    bus: EventBus, topic: str, limit: int, group: str = DLQ_GROUP
) -> AsyncIterator[list[Delivery]]:
    """Up to ``limit`` events waiting for ``group`` on ``topic`` (by default the dead
    letters of a dead-letter topic), leased until settled; the subscription stays open
    meanwhile (closing it first would hand them back on RabbitMQ, voiding the acks)."""
    consumer = f"held-{uuid.uuid4().hex[:8]}"
    sub = await bus.subscribe(topic, group, consumer, ack_wait=DLQ_ACK_WAIT)
    try:
        held: list[Delivery] = []
        deadline = time.monotonic() + DLQ_ACK_WAIT / 2
        while len(held) < limit and time.monotonic() < deadline:
            got = await sub.fetch(min(limit - len(held), 1000), timeout=0.3)
            if not got:
                break
            held += got
        yield held
    finally:
        await sub.close()


def _check_limit(limit: int) -> None:
    if limit < 1:
        raise InvalidInput("limit must be 1 or more", field="limit")


async def list_dead_letters(
    bus: EventBus,
    dlq_topic: str,
    limit: int = 100,
    *,
    chosen: Callable[[Event], bool] | None = None,
) -> list[Event]:
    """Up to ``limit`` dead letters, oldest first, left in place; with ``chosen``, only
    those it accepts among the first ``limit`` (e.g. one tenant's)."""
    _check_limit(limit)
    async with held(bus, dlq_topic, limit) as letters:
        for delivery in letters:
            await delivery.nack(0)
    return [d.event for d in letters if chosen is None or chosen(d.event)]


async def replay_dead_letters(
    bus: EventBus,
    dlq_topic: str,
    limit: int = 100,
    *,
    default_topic: str | None = None,
    chosen: Callable[[Event], bool] | None = None,
) -> list[tuple[str, Event]]:
    """Republish up to ``limit`` dead letters to their topics; returns (topic, event) pairs.

    A dead letter without ``dlqtopic`` goes to ``default_topic``. If publishing fails, every
    fetched dead letter is handed back and the error propagates: nothing is lost. With
    ``chosen``, only the letters it accepts are replayed; the others are handed back.
    """
    _check_limit(limit)
    async with held(bus, dlq_topic, limit) as letters:
        mine = [d for d in letters if chosen is None or chosen(d.event)]
        others = [d for d in letters if chosen is not None and not chosen(d.event)]
        try:
            replayed = [_route(d.event, default_topic) for d in mine]
            await _publish_by_topic(bus, replayed)
        except BaseException:
            for delivery in letters:
                await delivery.nack(0)
            raise
        for delivery in others:
            await delivery.nack(0)
        for delivery in mine:
            await delivery.ack()
    return replayed


async def _publish_by_topic(bus: EventBus, routed: list[tuple[str, Event]]) -> None:
    by_topic: dict[str, list[Event]] = defaultdict(list)
    for topic, event in routed:
        by_topic[topic].append(event)
    for topic, events in by_topic.items():
        await bus.publish(topic, events)


def _route(letter: Event, default_topic: str | None) -> tuple[str, Event]:
    topic, event = original(letter)
    target = topic or default_topic
    if target is None:
        raise InvalidInput(f"dead letter {letter.id} has no dlqtopic; pass a topic", field="topic")
    return check_bus_name("topic", target), event
