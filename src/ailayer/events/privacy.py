"""The event bus's part of data subject requests (``governance.privacy``): topics, dead
letters and outbox spools.

An event is the subject's when it is the tenant's (its ``tenant`` attribute) and its JSON
data holds the subject's key with the subject's value (compared as text: ``42`` matches 42).

``TopicSubjects`` searches the source topics of the tenant's stream views: a log broker
keeps their events after the runners read them. ``DeadLetterSubjects`` searches the
dead-letter topics: those of the tenant's stream views (``<topic>-dlq``, where the stream
runner sends them) and the ``dead_letter_topics`` setting (the topics of ``ailayer events
run`` consumers and async inference). A dead letter is a failed event kept whole
(``deadletter.py``), so it holds whatever the event held until someone replays or drops
it — and on a log broker even after a replay.

On a log broker (embedded, Redis Streams, NATS) every event the broker still stores for a
topic is searched — acked, pending or replayed — and erased with ``EventBus.forget`` (out
of the log and out of every group's pending state). RabbitMQ keeps an event only in the
queue of each consumer group, so every known group's queue that exists is read through
(``deadletter.held``; ``EventBus.waiting`` says which exist, without creating one): the
events waiting when the request starts are held, the subject's acked (gone), the others
handed back in order. The known groups of a topic are passed in: the stream groups of
every tenant's views on it (``features.privacy.stream_topics``), ``dlq`` for a dead-letter
topic, and the groups the ``console_topics`` setting names. A consumer of the group that
runs meanwhile gets the held events back after those published during the read
(``docs/governance.md`` says what that means for a stream view's lateness).

``SpoolSubjects`` searches outbox spool files (``outbox_spools``: the files that producer
processes' ``Outbox`` spools to while their broker is down). A spool is opened by one
process at a time; the delete erases one in use by a running producer by asking that
producer (``erasure.py``: a request beside the spool, answered by its ``Outbox``); without
an answer in time the store fails, naming it, and the receipt says to run the request again
to confirm. An export cannot read a spool in use and names it the same way.
"""

from __future__ import annotations

import asyncio
import glob
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import orjson

from ailayer.core.errors import BackendUnavailable
from ailayer.events import erasure
from ailayer.events.bus import EventBus
from ailayer.events.deadletter import DLQ_GROUP, held
from ailayer.events.envelope import Event
from ailayer.events.erasure import value_text
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
    return value_text(event.data.get(subject.key)) == subject.value


class TopicSubjects:
    """A subject's events on the stream views' source topics (``topics_of``: a tenant's
    topics, each with the consumer groups ailayer knows of it)."""

    name = "event_topics"

    def __init__(
        self,
        open_bus: Callable[[], EventBus],
        topics_of: Callable[[str], Mapping[str, Iterable[str]]],
    ) -> None:
        self.open_bus = open_bus
        self.topics_of = topics_of

    def topics(self, tenant_id: str) -> dict[str, list[str]]:
        """Each topic searched for the tenant, with the groups whose queues are read on a
        queue broker."""
        return {t: sorted(set(g)) for t, g in sorted(self.topics_of(tenant_id).items())}

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
        topics = self.topics(tenant_id)
        if not topics:
            return {}
        return asyncio.run(self._all(topics, tenant_id, subject, erase))

    async def _all(
        self, topics: dict[str, list[str]], tenant_id: str, subject: Subject, erase: bool
    ) -> dict[str, list[Event]]:
        bus = self.open_bus()
        try:
            result, partly = {}, []
            for topic, groups in topics.items():
                events, whole = await _in_topic(bus, topic, groups, tenant_id, subject, erase)
                if events:
                    result[topic] = events
                if not whole:
                    partly.append(topic)
        finally:
            await bus.close()
        if partly:
            counted = ", ".join(f"{t}: {len(e)}" for t, e in result.items()) or "none"
            raise BackendUnavailable(
                f"group queue(s) of {', '.join(partly)} hold more than {QUEUE_LIMIT} events;"
                f" only the first were searched (found: {counted}); run the request again"
                " once the consumers caught up"
            )
        return result


class DeadLetterSubjects(TopicSubjects):
    """A subject's dead letters: the dead-letter topics of the tenant's stream views
    (``topics_of``) and those the ``dead_letter_topics`` setting names (``topics``); on
    a queue broker, the queues of the ``dlq`` group and of the ``groups`` named per topic."""

    name = "dead_letters"

    def __init__(
        self,
        open_bus: Callable[[], EventBus],
        topics_of: Callable[[str], Iterable[str]],
        topics: Iterable[str] = (),
        groups: Mapping[str, Iterable[str]] | None = None,
    ) -> None:
        super().__init__(open_bus, self._with_groups)
        self.dead_letter_topics_of = topics_of
        self.named = tuple(topics)
        self.groups = {topic: tuple(names) for topic, names in (groups or {}).items()}

    def dead_letter_topics(self, tenant_id: str) -> list[str]:
        return sorted(set(self.dead_letter_topics_of(tenant_id)) | set(self.named))

    def _with_groups(self, tenant_id: str) -> dict[str, list[str]]:
        return {
            topic: [DLQ_GROUP, *self.groups.get(topic, ())]
            for topic in self.dead_letter_topics(tenant_id)
        }


async def _in_topic(
    bus: EventBus,
    topic: str,
    groups: list[str],
    tenant_id: str,
    subject: Subject,
    erase: bool,
) -> tuple[list[Event], bool]:
    """The subject's events in ``topic`` (erased first when ``erase``), and whether every
    stored event was searched."""
    try:
        stored = await bus.retained(topic)
    except NotImplementedError:
        return await _in_queues(bus, topic, groups, tenant_id, subject, erase)
    mine = [(handle, event) for handle, event in stored if holds(event, tenant_id, subject)]
    if erase and mine:
        removed = await bus.forget(topic, [handle for handle, _ in mine])
        if removed < len(mine):  # trimmed meanwhile: count what was removed
            return [event for _, event in mine][:removed], True
    return [event for _, event in mine], True


async def _in_queues(
    bus: EventBus,
    topic: str,
    groups: list[str],
    tenant_id: str,
    subject: Subject,
    erase: bool,
) -> tuple[list[Event], bool]:
    """On a queue broker each group has its own copy of an event: every known group's
    queue that exists is read through; an event counts once (by id)."""
    found: dict[str, Event] = {}
    whole = True
    for group in groups:
        waiting = await bus.waiting(topic, group)
        if waiting is None:  # no such queue: subscribing would make one
            continue
        whole = whole and waiting <= QUEUE_LIMIT
        if not waiting:
            continue
        limit = min(waiting, QUEUE_LIMIT)  # not the events published meanwhile
        for event in await _in_queue(bus, topic, group, limit, tenant_id, subject, erase):
            found.setdefault(event.id, event)
    return list(found.values()), whole


async def _in_queue(
    bus: EventBus,
    topic: str,
    group: str,
    limit: int,
    tenant_id: str,
    subject: Subject,
    erase: bool,
) -> list[Event]:
    """Read the group's queue through: the subject's acked when ``erase``, every other
    event handed back in order. A consumer of the group that runs meanwhile gets the
    events behind those held, then the handed-back ones again (``docs/governance.md``)."""
    async with held(bus, topic, limit, group) as deliveries:
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
    """A subject's events in outbox spool files; one held by a running producer is
    erased by that producer on request (``erasure.py``), not read."""

    name = "outbox_spools"

    def __init__(self, patterns: Iterable[str], wait: float | None = None) -> None:
        self.patterns = tuple(patterns)
        self._wait = wait  # for a running producer's answer; None: erasure.WAIT_SECONDS

    @property
    def wait(self) -> float:
        return erasure.WAIT_SECONDS if self._wait is None else self._wait

    def files(self) -> list[Path]:
        """The spool files the patterns name now (globs allowed)."""
        found = {Path(p) for pattern in self.patterns for p in glob.glob(pattern)}
        return sorted(p for p in found if p.is_file())

    def find(self, tenant_id: str, subject: Subject) -> Found:
        found = Found(self.name)
        busy = []
        for path in self.files():
            rows = _spooled(path, tenant_id, subject, erase=False)
            if rows is None:
                busy.append(str(path))
            elif rows:
                found.where[str(path)] = len(rows)
                found.records += [
                    json_ready({"file": str(path), "topic": topic, "event": event.to_dict()})
                    for _, topic, event in rows
                ]
        if busy:
            counted = ", ".join(f"{p}: {n}" for p, n in found.where.items()) or "none"
            raise BackendUnavailable(
                f"outbox spool(s) in use by a running producer, not searched: "
                f"{', '.join(busy)} (searched: {counted}); run the export again once it stopped"
            )
        return found

    def erase(self, tenant_id: str, subject: Subject) -> Erased:
        erased = Erased(self.name)
        asked: dict[Path, str] = {}
        for path in self.files():
            rows = _spooled(path, tenant_id, subject, erase=True)
            if rows is None:  # held by a running producer: ask it
                asked[path] = erasure.request(path, tenant_id, subject.key, subject.value)
            elif rows:
                erased.where[str(path)] = len(rows)
        unanswered = []
        for path, rid in asked.items():
            removed = erasure.answer(path, rid, self.wait)
            if removed is None:
                unanswered.append(str(path))
            elif removed:
                erased.where[str(path)] = removed
        if unanswered:
            counted = ", ".join(f"{p}: {n}" for p, n in erased.where.items()) or "none"
            raise BackendUnavailable(
                f"erasure requested from the running producer(s) of {', '.join(unanswered)},"
                f" not confirmed within {self.wait:g} s (removed: {counted});"
                " run the request again to confirm"
            )
        if asked:
            erased.note = f"completed by the running producer(s) of {len(asked)} spool(s)"
        return erased


def _spooled(
    path: Path, tenant_id: str, subject: Subject, *, erase: bool
) -> list[tuple[int, str, Event]] | None:
    """The subject's rows in the spool at ``path`` (removed when ``erase``), or None when
    a running producer holds it. Opening it also answers requests left beside it."""
    spool = Spool(path, SPOOL_CAPACITY)
    try:
        spool.open()
    except BackendUnavailable:
        return None
    try:
        rows = [r for r in spool.rows() if holds(r[2], tenant_id, subject)]
        if erase and rows:
            removed = spool.remove([seq for seq, _, _ in rows])
            rows = rows[:removed]
        if erase:
            spool.honour_erasures()  # requests a producer left unanswered when it stopped
        return rows
    finally:
        spool.close()
