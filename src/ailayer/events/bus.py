"""The event bus port: durable topics, consumer groups, acks and redelivery.

Contract every backend honours (``tests/integration/events/test_bus_contract.py``):

- ``publish(topic, events)`` returns only once every event is durable in the broker
  (committed SQLite / XADD reply / JetStream ack / RabbitMQ publisher confirm). Events keep
  their order within one call. Every event must carry a ``tenant``.
- ``subscribe(topic, group, consumer, ack_wait=...)`` joins ``consumer`` to ``group``,
  creating the group if needed. Groups are independent: each gets every event published
  after it was created (log brokers also hand a new group the events they still retain).
  Within a group each event goes to one consumer at a time.
- ``Subscription.fetch(max_messages, timeout)`` waits up to ``timeout`` seconds for at least
  one event and returns at most ``max_messages`` deliveries, never more.
- A delivery is settled by ``ack()`` (done, never again) or ``nack(delay)`` (hand it to the
  group again, not before ``delay`` seconds). ``Subscription.ack_many(deliveries)`` acks a
  batch of one subscription's deliveries with one broker round trip where the broker
  allows. One that is never settled, because its consumer died or closed, goes to a
  consumer of the same group again after ``ack_wait`` seconds at most. Delivery is therefore at least once: handlers must be idempotent,
  and ``Delivery.attempt`` counts deliveries so that a runner can dead-letter.
- ``Subscription.fetch_batch`` / ``ack_batches``: the same deliveries as ``fetch`` /
  ``ack_many``, as a ``Batch`` in columns — no ``Event`` or ``Delivery`` object per event
  — for consumers that handle events many at a time (``StreamRunner``). A broker may build
  it from ``fetch`` (``Batch.of``); Redis Streams, NATS and the embedded bus decode
  it directly.
- ``lag(topic, group)`` counts events the group has not acked yet (undelivered plus in
  flight); autoscaling reads it.
- ``retained(topic)`` lists every event the broker still stores for the topic, acked or
  not, oldest first, each with the broker's handle of it; ``forget(topic, handles)``
  removes those events from the topic and from every group's pending state, and says how
  many it still found. A data subject request uses them (``events/privacy.py``); log
  brokers (embedded, Redis Streams, NATS) implement them; RabbitMQ, which keeps events
  only in its groups' queues, raises ``NotImplementedError`` (they are taken from the
  queue there instead).
- ``waiting(topic, group)``: how many events wait in the group's queue, or None when the
  broker keeps no queue for that group — so that a data subject request reads through
  only queues that exist (subscribing would create one). RabbitMQ implements it; log
  brokers raise ``NotImplementedError`` (``retained`` covers every group there).
- ``delete_topic(topic, groups)`` removes the topic and its groups' state (brokers that
  cannot list groups delete the ``groups`` named; every name is checked before anything
  is deleted); for operators and tests.
- Topic, group and consumer names are 1-64 chars of ``a-z 0-9 _ -`` starting with a letter
  or digit; anything else raises ``InvalidInput``. Tenants live in the envelope, not in
  topic names, so one ``payments`` topic carries every tenant's payments.

Ordering, redelivery timing and backpressure differ by broker; ``docs/events.md`` says how.

A broker extends ``BaseBus`` and ``BaseSubscription`` and writes only their raw calls
(``_publish``, ``_fetch``, ``_ack``, ...): the public methods above check every argument
here, once per call, before any I/O, and settle each delivery and batch at most once. The
raw calls' contract is in those classes' docstrings.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol

from ailayer.core.errors import InvalidInput
from ailayer.core.names import check_bus_name
from ailayer.events.envelope import Event
from ailayer.events.usage import EVENT_COUNTS, IN, OUT

DEFAULT_ACK_WAIT = 30.0
MAX_FETCH = 1000


class Delivery:
    """One event handed to one consumer; settle it once with ``ack`` or ``nack``.

    Settling twice is a no-op, so a handler and a runner may both try. Settling a delivery
    whose lease already expired is also a no-op on brokers that track leases: the event
    has gone to another consumer and will be settled there. ``handle`` is the broker's own
    reference (entry id, lease, message); the subscription that fetched the delivery
    settles it (``BaseSubscription._ack`` / ``_nack``).
    """

    __slots__ = ("_owner", "_settled", "attempt", "event", "handle")

    def __init__(
        self, event: Event, attempt: int, *, owner: BaseSubscription, handle: object = None
    ) -> None:
        self.event = event
        self.attempt = attempt
        self._owner = owner
        self.handle = handle
        self._settled = False

    @property
    def settled(self) -> bool:
        return self._settled

    async def ack(self) -> None:
        if self._claim():
            await self._owner._ack(self)

    async def nack(self, delay: float = 0.0) -> None:
        """Give the event back to the group, to be delivered again after ``delay`` seconds."""
        if delay < 0:
            raise InvalidInput("delay must be zero or more seconds", field="delay")
        if self._claim():
            await self._owner._nack(self, delay)

    def _claim(self) -> bool:
        """Mark the delivery settled; True if it was not yet (the caller then settles it
        with the broker), False if it was."""
        if self._settled:
            return False
        self._settled = True
        return True

    def __repr__(self) -> str:
        return f"Delivery({self.event.type} {self.event.id}, attempt={self.attempt})"


class Batch:
    """Deliveries of one fetch, in columns: event ``i`` is ``bodies[i]``, delivered for
    the ``attempts[i]``-th time, known to the broker as ``handles[i]``.

    ``bodies[i]`` is the event's structured-mode JSON object as decoded (``Event.to_dict``'s
    form: absent attributes missing, binary data as ``data_base64``, extensions at the top
    level), validated as ``fetch`` validates; read it, never change it. ``event(i)`` builds
    the ``Event``. ``delivery(i)`` hands event ``i`` out to be settled on its own (a dead
    letter, a retry); ``ack_batches`` then leaves it to that ``Delivery``. Acking a batch
    twice does nothing, like settling a delivery twice.
    """

    __slots__ = ("_acked", "_deliver", "_owner", "_taken", "attempts", "bodies", "handles")

    def __init__(
        self,
        owner: BaseSubscription,
        bodies: list[dict[str, Any]],
        attempts: Sequence[int],
        handles: Sequence[object],
        deliver: Callable[[int], Delivery],
    ) -> None:
        """``deliver(i)`` makes (or returns) the ``Delivery`` of event ``i``."""
        self._owner = owner  # the subscription that fetched it (checked by ack_batches)
        self.bodies, self.attempts, self.handles = bodies, attempts, handles
        self._deliver = deliver
        self._taken: dict[int, Delivery] = {}
        self._acked = False

    @classmethod
    def of(cls, owner: BaseSubscription, deliveries: list[Delivery]) -> Batch:
        """A batch of ``fetch``'s deliveries (a broker with no columnar decode)."""
        bodies = [d.event.to_dict() for d in deliveries]
        attempts = [d.attempt for d in deliveries]
        return cls(owner, bodies, attempts, [d.handle for d in deliveries], deliveries.__getitem__)

    def __len__(self) -> int:
        return len(self.bodies)

    def __bool__(self) -> bool:
        return bool(self.bodies)

    def event(self, i: int) -> Event:
        delivery = self._taken.get(i)
        return delivery.event if delivery is not None else self._deliver(i).event

    def delivery(self, i: int) -> Delivery:
        """Event ``i`` as a ``Delivery`` of its own, left out of ``ack_batches``."""
        delivery = self._taken.get(i)
        if delivery is None:
            delivery = self._taken[i] = self._deliver(i)
        return delivery

    def _claim(self) -> Sequence[int]:
        """Mark the batch acked; the indices of its events still to ack (those not handed
        out by ``delivery``), none if it was acked already."""
        if self._acked:
            return ()
        self._acked = True
        every = range(len(self.bodies))
        taken = self._taken
        return [i for i in every if i not in taken] if taken else every

    def __repr__(self) -> str:
        return f"Batch({len(self.bodies)} events)"


class Subscription(Protocol):
    """One consumer's membership in a group."""

    async def fetch(self, max_messages: int = 100, timeout: float = 1.0) -> list[Delivery]:
        """Up to ``max_messages`` deliveries, waiting at most ``timeout`` s for the first."""
        ...

    async def ack_many(self, deliveries: Sequence[Delivery]) -> None:
        """Ack ``deliveries`` together: the same effect as ``ack()`` on each, in one broker
        round trip where the broker allows it (one ``XACK``, one SQLite transaction, one
        flush). Deliveries already settled are skipped (settling twice does nothing).
        Every delivery must come from this subscription's ``fetch``; otherwise
        ``InvalidInput`` is raised before anything is settled."""
        ...

    async def fetch_batch(self, max_messages: int = 100, timeout: float = 1.0) -> Batch:
        """``fetch`` as a ``Batch`` (empty when nothing came within ``timeout``)."""
        ...

    async def ack_batches(self, batches: Sequence[Batch]) -> None:
        """Ack every event of ``batches`` not handed out by ``Batch.delivery``: the same
        effect as ``ack_many`` of their deliveries. Batches already acked are skipped; a
        batch of another subscription raises ``InvalidInput`` before anything is acked."""
        ...

    async def close(self) -> None:
        """Leave the group; unsettled deliveries return to it (at once or after ack_wait)."""
        ...


class EventBus(Protocol):
    """Durable topics with consumer groups. See the module docstring for the contract."""

    async def publish(self, topic: str, events: Sequence[Event]) -> None: ...

    async def subscribe(
        self, topic: str, group: str, consumer: str, *, ack_wait: float = DEFAULT_ACK_WAIT
    ) -> Subscription: ...

    async def lag(self, topic: str, group: str) -> int: ...

    async def delete_topic(self, topic: str, groups: Iterable[str] = ()) -> None: ...

    async def retained(self, topic: str) -> list[tuple[Any, Event]]: ...

    async def forget(self, topic: str, handles: Sequence[Any]) -> int: ...

    async def waiting(self, topic: str, group: str) -> int | None: ...

    async def close(self) -> None: ...


class BaseBus(ABC):
    """An ``EventBus`` whose broker writes only the raw calls; the checks are done here.

    Every public method checks its arguments (names, events, ``ack_wait``) before any I/O
    and raises ``InvalidInput`` naming the field; then it calls the raw method, which can
    rely on what was checked. A broker implements:

    - ``_publish(topic, events)``: at least one event, each an ``Event`` with a tenant.
      Return once every event is durable in the broker, stored in the order given.
    - ``_subscribe(topic, group, consumer, ack_wait)``: ``ack_wait`` > 0. Join ``consumer``
      to ``group`` (creating the group if needed) and return the broker's
      ``BaseSubscription``.
    - ``_lag(topic, group)``: events the group has not acked (undelivered plus in flight,
      where the broker can tell).
    - ``_delete_topic(topic, groups)``: ``groups`` a tuple of valid names. Remove the
      topic and its groups' state; a broker that cannot list groups deletes those named.
    - ``close()``: release connections; the bus is not used afterwards.

    Building a bus does no I/O (it connects on first use), and a raw call that cannot
    reach the broker raises ``BackendUnavailable``. ``tests/integration/events`` (the
    contract, batch and reconnect suites) decides whether a broker honours this.
    """

    async def publish(self, topic: str, events: Sequence[Event]) -> None:
        check_publish(topic, events)
        if events:
            await self._publish(topic, events)
            EVENT_COUNTS.add(IN, (event.tenant for event in events))

    async def subscribe(
        self, topic: str, group: str, consumer: str, *, ack_wait: float = DEFAULT_ACK_WAIT
    ) -> BaseSubscription:
        check_subscription(topic, group, consumer, ack_wait)
        return await self._subscribe(topic, group, consumer, ack_wait)

    async def lag(self, topic: str, group: str) -> int:
        return await self._lag(check_bus_name("topic", topic), check_bus_name("group", group))

    async def delete_topic(self, topic: str, groups: Iterable[str] = ()) -> None:
        check_bus_name("topic", topic)
        await self._delete_topic(topic, tuple(check_bus_name("group", g) for g in groups))

    async def retained(self, topic: str) -> list[tuple[Any, Event]]:
        """Every event still stored for ``topic``, oldest first, with its handle."""
        return await self._retained(check_bus_name("topic", topic))

    async def forget(self, topic: str, handles: Sequence[Any]) -> int:
        """Remove these retained events everywhere in the broker; how many were found."""
        check_bus_name("topic", topic)
        return await self._forget(topic, list(handles)) if handles else 0

    async def waiting(self, topic: str, group: str) -> int | None:
        """Events waiting in the group's queue; None when the broker has no such queue."""
        return await self._waiting(check_bus_name("topic", topic), check_bus_name("group", group))

    async def _waiting(self, topic: str, group: str) -> int | None:
        raise NotImplementedError(f"{type(self).__name__} keeps a log, not queues per group")

    async def _retained(self, topic: str) -> list[tuple[Any, Event]]:
        raise NotImplementedError(f"{type(self).__name__} keeps no log of a topic")

    async def _forget(self, topic: str, handles: list[Any]) -> int:
        raise NotImplementedError(f"{type(self).__name__} keeps no log of a topic")

    @abstractmethod
    async def _publish(self, topic: str, events: Sequence[Event]) -> None: ...

    @abstractmethod
    async def _subscribe(
        self, topic: str, group: str, consumer: str, ack_wait: float
    ) -> BaseSubscription: ...

    @abstractmethod
    async def _lag(self, topic: str, group: str) -> int: ...

    @abstractmethod
    async def _delete_topic(self, topic: str, groups: tuple[str, ...]) -> None: ...

    @abstractmethod
    async def close(self) -> None: ...


class BaseSubscription(ABC):
    """A ``Subscription`` whose broker writes only the raw calls; checks and settle-once
    bookkeeping are done here (and in ``Delivery`` / ``Batch``), once per call.

    A broker implements:

    - ``_fetch(max_messages, timeout)``: ``max_messages`` is 1 to ``MAX_FETCH`` and
      ``timeout`` >= 0. Wait up to ``timeout`` s for at least one event and return at most
      ``max_messages`` ``Delivery(event, attempt, owner=self, handle=...)``: ``attempt``
      counts this event's deliveries to the group (1 the first time), ``handle`` is what
      the broker needs to settle it.
    - ``_ack(delivery)`` / ``_nack(delivery, delay)``: settle one delivery of this
      subscription, called at most once per delivery (``delay`` >= 0): acked, it never
      comes again; nacked, it goes to the group again, not before ``delay`` s. Where the
      broker tracks leases, settling one whose lease expired does nothing.
    - ``close()``: leave the group; unsettled deliveries return to it, at once or after
      ``ack_wait``.

    and may override, for fewer round trips or less work per event:

    - ``_ack_many(deliveries)``: ack these (at least one, none settled before, all of this
      subscription) with as few broker round trips as it allows; by default ``_ack`` each.
    - ``_fetch_batch(max_messages, timeout)``: ``_fetch`` as a ``Batch``; by default
      ``Batch.of`` its deliveries, overridden to decode bodies straight into columns.
    - ``_ack_batches(todo)``: ack event ``i`` of ``batch`` for each ``i`` of each
      ``(batch, indices)`` (at least one event, batches of this subscription not acked
      before); by default ``_ack_many`` of their deliveries.

    A raw call that cannot reach the broker raises ``BackendUnavailable``.
    """

    async def fetch(self, max_messages: int = 100, timeout: float = 1.0) -> list[Delivery]:
        check_fetch(max_messages, timeout)
        deliveries = await self._fetch(max_messages, timeout)
        EVENT_COUNTS.add(OUT, (delivery.event.tenant for delivery in deliveries))
        return deliveries

    async def fetch_batch(self, max_messages: int = 100, timeout: float = 1.0) -> Batch:
        check_fetch(max_messages, timeout)
        batch = await self._fetch_batch(max_messages, timeout)
        EVENT_COUNTS.add(OUT, (body.get("tenant") for body in batch.bodies))
        return batch

    async def ack_many(self, deliveries: Sequence[Delivery]) -> None:
        _refuse_foreign(self, deliveries, Delivery, "ack_many", "deliveries")
        todo = [delivery for delivery in deliveries if delivery._claim()]
        if todo:
            await self._ack_many(todo)

    async def ack_batches(self, batches: Sequence[Batch]) -> None:
        _refuse_foreign(self, batches, Batch, "ack_batches", "batches")
        todo = [(batch, indices) for batch in batches if (indices := batch._claim())]
        if todo:
            await self._ack_batches(todo)

    @abstractmethod
    async def _fetch(self, max_messages: int, timeout: float) -> list[Delivery]: ...

    @abstractmethod
    async def _ack(self, delivery: Delivery) -> None: ...

    @abstractmethod
    async def _nack(self, delivery: Delivery, delay: float) -> None: ...

    @abstractmethod
    async def close(self) -> None: ...

    async def _ack_many(self, deliveries: list[Delivery]) -> None:
        for delivery in deliveries:
            await self._ack(delivery)

    async def _fetch_batch(self, max_messages: int, timeout: float) -> Batch:
        return Batch.of(self, await self._fetch(max_messages, timeout))

    async def _ack_batches(self, todo: list[tuple[Batch, Sequence[int]]]) -> None:
        deliveries = [
            delivery
            for batch, indices in todo
            for i in indices
            if (delivery := batch._deliver(i))._claim()
        ]
        if deliveries:
            await self._ack_many(deliveries)


def _refuse_foreign(
    owner: BaseSubscription,
    items: Sequence[Delivery] | Sequence[Batch],
    kind: type[Delivery] | type[Batch],
    call: str,
    field: str,
) -> None:
    """Raise unless every item was fetched by ``owner`` (before anything is settled)."""
    for item in items:
        if not isinstance(item, kind) or item._owner is not owner:
            raise InvalidInput(
                f"{call} got {item!r}, which was not fetched by this subscription;"
                " ack it with its own subscription",
                field=field,
            )


def check_subscription(topic: str, group: str, consumer: str, ack_wait: float) -> None:
    check_bus_name("topic", topic)
    check_bus_name("group", group)
    check_bus_name("consumer", consumer)
    if not ack_wait > 0:
        raise InvalidInput("ack_wait must be a positive number of seconds", field="ack_wait")


def check_publish(topic: str, events: Sequence[Event]) -> None:
    """Validate a publish call before any I/O."""
    check_bus_name("topic", topic)
    for event in events:
        if not isinstance(event, Event):
            raise InvalidInput("events must be Event objects", field="events")
        if event.tenant is None:
            raise InvalidInput(
                f"event {event.id} has no tenant; every event on the bus carries one",
                field="tenant",
            )


def check_fetch(max_messages: int, timeout: float) -> None:
    if not 1 <= max_messages <= MAX_FETCH:
        raise InvalidInput(f"max_messages must be 1-{MAX_FETCH}", field="max_messages")
    if timeout < 0:
        raise InvalidInput("timeout must be zero or more seconds", field="timeout")
