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
  batch of one subscription's deliveries with one broker round trip where the broker allows. One that is never settled, because its
  consumer died or closed, goes to a consumer of the same group again after ``ack_wait``
  seconds at most. Delivery is therefore at least once: handlers must be idempotent,
  and ``Delivery.attempt`` counts deliveries so that a runner can dead-letter.
- ``Subscription.fetch_batch`` / ``ack_batches``: the same deliveries as ``fetch`` /
  ``ack_many``, as a ``Batch`` in columns — no ``Event`` or ``Delivery`` object per event
  — for consumers that handle events many at a time (``StreamRunner``). A broker may build
  it from ``fetch`` (``Batch.of``); Redis Streams, NATS and the embedded bus decode
  it directly.
- ``lag(topic, group)`` counts events the group has not acked yet (undelivered plus in
  flight); autoscaling reads it.
- ``delete_topic(topic, groups)`` removes the topic and its groups' state (brokers that
  cannot list groups delete the ``groups`` named); for operators and tests.
- Topic, group and consumer names are 1-64 chars of ``a-z 0-9 _ -`` starting with a letter
  or digit; anything else raises ``InvalidInput``. Tenants live in the envelope, not in
  topic names, so one ``payments`` topic carries every tenant's payments.

Ordering, redelivery timing and backpressure differ by broker; ``docs/events.md`` says how.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, Protocol

from ailayer.core.errors import InvalidInput
from ailayer.events.envelope import Event

DEFAULT_ACK_WAIT = 30.0
MAX_FETCH = 1000
MAX_NAME = 64
NAME_RULE = f"1-{MAX_NAME} chars of a-z, 0-9, '_' or '-', starting with a letter or digit"
_NAME = re.compile(rf"[a-z0-9][a-z0-9_-]{{0,{MAX_NAME - 1}}}")


class Delivery:
    """One event handed to one consumer; settle it once with ``ack`` or ``nack``.

    Settling twice is a no-op, so a handler and a runner may both try. Settling a delivery
    whose lease already expired is also a no-op on brokers that track leases: the event
    has gone to another consumer and will be settled there.
    """

    __slots__ = ("_ack", "_nack", "_owner", "_settled", "attempt", "event", "handle")

    def __init__(
        self,
        event: Event,
        attempt: int,
        ack: Callable[[], Awaitable[None]],
        nack: Callable[[float], Awaitable[None]],
        *,
        owner: object = None,
        handle: object = None,
    ) -> None:
        self.event = event
        self.attempt = attempt
        self._ack = ack
        self._nack = nack
        self._owner = owner  # the subscription that fetched it (checked by ack_many)
        self.handle = handle  # the backend's own reference (entry id, lease, message)
        self._settled = False

    @property
    def settled(self) -> bool:
        return self._settled

    async def ack(self) -> None:
        if not self._settled:
            self._settled = True
            await self._ack()

    async def nack(self, delay: float = 0.0) -> None:
        """Give the event back to the group, to be delivered again after ``delay`` seconds."""
        if delay < 0:
            raise InvalidInput("delay must be zero or more seconds", field="delay")
        if not self._settled:
            self._settled = True
            await self._nack(delay)

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
        owner: object,
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
    def of(cls, owner: object, deliveries: list[Delivery]) -> Batch:
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

    async def close(self) -> None: ...


def check_name(kind: str, value: object) -> str:
    """Return ``value`` if it is a valid topic/group/consumer name, else raise."""
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise InvalidInput(f"{kind} must be {NAME_RULE}; got {value!r}", field=kind)
    return value


def check_subscription(topic: str, group: str, consumer: str, ack_wait: float) -> None:
    check_name("topic", topic)
    check_name("group", group)
    check_name("consumer", consumer)
    if not ack_wait > 0:
        raise InvalidInput("ack_wait must be a positive number of seconds", field="ack_wait")


def check_publish(topic: str, events: Sequence[Event]) -> None:
    """Validate a publish call before any I/O."""
    check_name("topic", topic)
    for event in events:
        if not isinstance(event, Event):
            raise InvalidInput("events must be Event objects", field="events")
        if event.tenant is None:
            raise InvalidInput(
                f"event {event.id} has no tenant; every event on the bus carries one",
                field="tenant",
            )


def settle_batch(owner: object, deliveries: Sequence[Delivery]) -> list[Delivery]:
    """For ``ack_many``: refuse deliveries of another subscription (before settling any),
    then mark the unsettled ones settled and return them (each at most once)."""
    for delivery in deliveries:
        if not isinstance(delivery, Delivery) or delivery._owner is not owner:
            raise InvalidInput(
                f"ack_many got {delivery!r}, which was not fetched by this subscription;"
                " ack it with its own subscription",
                field="deliveries",
            )
    todo = []
    for delivery in deliveries:
        if not delivery._settled:
            delivery._settled = True
            todo.append(delivery)
    return todo


def settle_batches(owner: object, batches: Sequence[Batch]) -> list[tuple[Batch, Sequence[int]]]:
    """For ``ack_batches``: refuse batches of another subscription (before settling any),
    then mark the rest acked and return each with the indices of its events still to ack
    (those not handed out by ``Batch.delivery``)."""
    for batch in batches:
        if not isinstance(batch, Batch) or batch._owner is not owner:
            raise InvalidInput(
                f"ack_batches got {batch!r}, which was not fetched by this subscription;"
                " ack it with its own subscription",
                field="batches",
            )
    todo: list[tuple[Batch, Sequence[int]]] = []
    for batch in batches:
        if not batch._acked:
            batch._acked = True
            taken = batch._taken
            every = range(len(batch))
            todo.append((batch, [i for i in every if i not in taken] if taken else every))
    return todo


def batch_deliveries(owner: object, batches: Sequence[Batch]) -> list[Delivery]:
    """``ack_batches`` by ``ack_many``: the deliveries of ``settle_batches``' events (for
    brokers whose batches are ``Batch.of`` their deliveries)."""
    return [batch._deliver(i) for batch, todo in settle_batches(owner, batches) for i in todo]


def check_fetch(max_messages: int, timeout: float) -> None:
    if not 1 <= max_messages <= MAX_FETCH:
        raise InvalidInput(f"max_messages must be 1-{MAX_FETCH}", field="max_messages")
    if timeout < 0:
        raise InvalidInput("timeout must be zero or more seconds", field="timeout")
