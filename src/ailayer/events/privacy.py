"""The event bus's part of data subject requests (``governance.privacy``): dead letters.

A dead letter is a failed event kept whole (``deadletter.py``), so it holds whatever the
event held about a subject until someone replays or drops it — and on a log broker even
after a replay. The dead-letter topics searched are those of the tenant's stream views'
topics (``<topic>-dlq``, where the stream runner sends them) and the ``dead_letter_topics``
setting (the topics of ``ailayer events run`` consumers and async inference). An event is
the subject's when it is the tenant's (its ``tenant`` attribute) and its JSON data holds
the subject's key with the subject's value (compared as text: ``42`` matches 42).

On a log broker (embedded, Redis Streams, NATS) every dead letter the broker still stores
is searched — pending or already replayed — and erased with ``EventBus.forget`` (out of
the log and out of every group's pending state). On RabbitMQ, which stores them only in
the ``dlq`` group's queue, the queue is read through (``deadletter.held``): the subject's
are acked (gone), the others handed back.

``SpoolSubjects`` searches outbox spool files (``outbox_spools``: the files that producer
processes' ``Outbox`` spools to while their broker is down). A spool is opened by one
process at a time; one in use by a running producer cannot be searched — the store then
fails, naming it, and the receipt says the delete is incomplete: run it again once the
producer stopped (or its spool drained into the broker, where the dead letters and the
stream views' logs are searched).
"""

from __future__ import annotations

import asyncio
import glob
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import orjson

from ailayer.core.errors import BackendUnavailable
from ailayer.events.bus import EventBus
from ailayer.events.deadletter import held
from ailayer.events.envelope import Event
from ailayer.events.spool import Spool
from ailayer.governance.privacy.subject import Erased, Found, Subject

SPOOL_CAPACITY = 2**62  # a spool opened to search it never grows
QUEUE_LIMIT = 100_000  # dead letters read through on a queue broker per request


def json_ready(record: dict[str, Any]) -> dict[str, Any]:
    return orjson.loads(orjson.dumps(record, default=str, option=orjson.OPT_NON_STR_KEYS))


def holds(event: Event, tenant_id: str, subject: Subject) -> bool:
    """Is ``event`` the tenant's and about the subject?"""
    if event.tenant != tenant_id or not isinstance(event.data, dict):
        return False
    value = event.data.get(subject.key)
    if value is None or isinstance(value, (dict, list)):
        return False
    return (str(value).lower() if isinstance(value, bool) else str(value)) == subject.value


class DeadLetterSubjects:
    name = "dead_letters"

    def __init__(
        self,
        open_bus: Callable[[], EventBus],
        topics_of: Callable[[str], Iterable[str]],
        topics: Iterable[str] = (),
    ) -> None:
        self.open_bus = open_bus
        self.topics_of = topics_of  # a tenant's own dead-letter topics (its stream views')
        self.topics = tuple(topics)

    def dead_letter_topics(self, tenant_id: str) -> list[str]:
        return sorted(set(self.topics_of(tenant_id)) | set(self.topics))

    def find(self, tenant_id: str, subject: Subject) -> Found:
        found = Found(self.name)
        for topic, events in self._run(tenant_id, subject, erase=False).items():
            found.where[topic] = len(events)
            found.records += [json_ready({"topic": topic, "event": e.to_dict()}) for e in events]
        return found

    def erase(self, tenant_id: str, subject: Subject) -> Erased:
        erased = Erased(self.name)
        for topic, events in self._run(tenant_id, subject, erase=True).items():
            erased.where[topic] = len(events)
        return erased

    def _run(self, tenant_id: str, subject: Subject, *, erase: bool) -> dict[str, list[Event]]:
        topics = self.dead_letter_topics(tenant_id)
        if not topics:
            return {}
        return asyncio.run(self._all(topics, tenant_id, subject, erase))

    async def _all(
        self, topics: list[str], tenant_id: str, subject: Subject, erase: bool
    ) -> dict[str, list[Event]]:
        bus = self.open_bus()
        try:
            result = {}
            for topic in topics:
                events = await _in_topic(bus, topic, tenant_id, subject, erase)
                if events:
                    result[topic] = events
            return result
        finally:
            await bus.close()


async def _in_topic(
    bus: EventBus, topic: str, tenant_id: str, subject: Subject, erase: bool
) -> list[Event]:
    """The subject's dead letters in ``topic`` (erased first when ``erase``)."""
    try:
        stored = await bus.retained(topic)
    except NotImplementedError:
        return await _in_queue(bus, topic, tenant_id, subject, erase)
    mine = [(handle, event) for handle, event in stored if holds(event, tenant_id, subject)]
    if erase and mine:
        removed = await bus.forget(topic, [handle for handle, _ in mine])
        if removed < len(mine):  # trimmed meanwhile: count what was removed
            return [event for _, event in mine][:removed]
    return [event for _, event in mine]


async def _in_queue(
    bus: EventBus, topic: str, tenant_id: str, subject: Subject, erase: bool
) -> list[Event]:
    async with held(bus, topic, QUEUE_LIMIT) as deliveries:
        mine = []
        for delivery in deliveries:
            if holds(delivery.event, tenant_id, subject):
                mine.append(delivery.event)
                if erase:
                    await delivery.ack()
                    continue
            await delivery.nack(0)
    return mine


class SpoolSubjects:
    name = "outbox_spools"

    def __init__(self, patterns: Iterable[str]) -> None:
        self.patterns = tuple(patterns)

    def files(self) -> list[Path]:
        """The spool files the patterns name now (globs allowed)."""
        found = {Path(p) for pattern in self.patterns for p in glob.glob(pattern)}
        return sorted(p for p in found if p.is_file())

    def find(self, tenant_id: str, subject: Subject) -> Found:
        found = Found(self.name)
        for path, rows in self._each(tenant_id, subject, erase=False):
            found.where[str(path)] = len(rows)
            found.records += [
                json_ready({"file": str(path), "topic": topic, "event": event.to_dict()})
                for _, topic, event in rows
            ]
        return found

    def erase(self, tenant_id: str, subject: Subject) -> Erased:
        erased = Erased(self.name)
        for path, rows in self._each(tenant_id, subject, erase=True):
            erased.where[str(path)] = len(rows)
        return erased

    def _each(
        self, tenant_id: str, subject: Subject, *, erase: bool
    ) -> list[tuple[Path, list[tuple[int, str, Event]]]]:
        done, busy = [], []
        for path in self.files():
            spool = Spool(path, SPOOL_CAPACITY)
            try:
                spool.open()
            except BackendUnavailable:
                busy.append(str(path))
                continue
            try:
                rows = [r for r in spool.rows() if holds(r[2], tenant_id, subject)]
                if erase and rows:
                    removed = spool.remove([seq for seq, _, _ in rows])
                    rows = rows[:removed]
            finally:
                spool.close()
            if rows:
                done.append((path, rows))
        if busy:
            counted = ", ".join(f"{path}: {len(rows)}" for path, rows in done) or "none"
            raise BackendUnavailable(
                f"outbox spool(s) in use by a running producer, not searched: "
                f"{', '.join(busy)} (searched: {counted}); run the request again once it stopped"
            )
        return done
