"""``amqp://user:pass@host:port/vhost``: RabbitMQ through aio-pika.

- Every topic publishes to the durable topic exchange ``ailayer.events`` with the topic as
  routing key, persistent messages, and waits for publisher confirms.
- A group is the durable quorum queue ``ailayer.<topic>.<group>`` bound to that key. Quorum
  queues count returns in ``x-delivery-count``, which feeds ``Delivery.attempt``. RabbitMQ
  keeps no history: a group receives what is published after its queue exists, and events
  published while a topic has no group at all are dropped by the exchange.
- ``fetch`` consumes only while it runs, on the subscription's own channel: it sets the
  prefetch (``basic.qos``) to the number of events it still needs, starts a consumer
  (``basic.consume``), collects what the broker pushes (until it has enough, or no event
  came for ``SETTLE_SECONDS`` after the first), and cancels the consumer. So the broker
  streams a batch instead of answering one ``basic.get`` per event, yet never sends more
  than asked: no hidden prefetch buffer, a subscription that is not fetching receives
  nothing (the group's other consumers get the events), and ``lag`` (ready messages,
  counted by the broker) still sees every event not yet handed out. An event that arrives
  after ``fetch`` returned (at most the prefetch, a race with the cancel) waits for the next.
- Closing the channel (or the process dying) returns its unacked deliveries to the queue
  at once. A live consumer that holds a delivery past ``ack_wait`` has it returned by its
  own subscription (``basic.nack`` with requeue); its later ack is then a no-op.
- ``nack(0)`` is ``basic.nack`` with requeue. ``nack(delay)`` re-publishes a copy, carrying
  the attempts so far in ``x-ailayer-attempts``, to a retry queue whose TTL dead-letters it
  back into the group's queue, then acks the original. Retry queues are a fixed ladder
  (``RETRY_RUNGS``; a delay is rounded up to the next rung, at most one hour), so a short
  delay never waits behind a long one.
- ``?maxlen=N`` caps each group queue with ``x-overflow: reject-publish``: a full queue
  makes ``publish`` raise ``BackendUnavailable`` instead of growing. Without it, RabbitMQ's
  memory and disk alarms block publishers. All processes must agree on ``maxlen``.

``lag`` cannot see deliveries in flight (AMQP does not report unacked counts): it counts the
events waiting in the group's queue and its retry queues. The connection is robust: it
reconnects and re-declares by itself after a broker restart.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator, Sequence
from typing import Any

import aio_pika
import aiormq.exceptions
from aio_pika.abc import (
    AbstractChannel,
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustConnection,
)

from ailayer.core.errors import BackendUnavailable
from ailayer.core.settings import redacted
from ailayer.events.brokers._url import split_options
from ailayer.events.bus import BaseBus, BaseSubscription, Delivery
from ailayer.events.envelope import Event

EXCHANGE = "ailayer.events"
ATTEMPTS = "x-ailayer-attempts"
RETRY_RUNGS = (0.25, 1, 5, 15, 60, 300, 900, 3600)
CONNECT_TIMEOUT = 5.0
SETTLE_SECONDS = 0.005  # a fetch returns early once events stop arriving for this long
MAX_PREFETCH = 65535  # the largest prefetch AMQP can express
RECONNECT_SECONDS = 1.0
_TRANSIENT = (
    aiormq.exceptions.AMQPConnectionError,
    aiormq.exceptions.ChannelInvalidStateError,  # a robust channel that is reconnecting
    ConnectionError,
    TimeoutError,
)


def queue_name(topic: str, group: str) -> str:
    return f"ailayer.{topic}.{group}"


def retry_queue_name(topic: str, group: str, rung: float) -> str:
    return f"ailayer.{topic}.{group}.retry.{int(rung * 1000)}ms"


def retry_rung(delay: float) -> float:
    """The smallest rung that waits at least ``delay`` seconds (or the longest one)."""
    return next((rung for rung in RETRY_RUNGS if rung >= delay), RETRY_RUNGS[-1])


class RabbitMQBus(BaseBus):
    """The bus on RabbitMQ; connects (robustly) on first use."""

    def __init__(self, url: str, *, maxlen: int | None = None) -> None:
        self.url = url
        self.maxlen = maxlen
        self._connection: AbstractRobustConnection | None = None
        self._publisher: AbstractChannel | None = None
        self._exchange: AbstractExchange | None = None
        self._connecting = asyncio.Lock()

    @classmethod
    def from_url(cls, url: str) -> RabbitMQBus:
        url, options = split_options(url, {"maxlen": int})
        return cls(url, **options)  # type: ignore[arg-type]

    @contextlib.asynccontextmanager
    async def answers(self) -> AsyncIterator[None]:
        """Turn a lost broker into ``BackendUnavailable`` and a full queue into one too."""
        try:
            yield
        except aiormq.exceptions.DeliveryError as exc:
            raise BackendUnavailable(
                "RabbitMQ refused the event (a group queue is full at its maxlen?)"
            ) from exc
        except _TRANSIENT as exc:
            raise BackendUnavailable(
                f"RabbitMQ at {redacted(self.url)} is unavailable: {exc!r}"
            ) from exc
        except Exception as exc:
            if type(exc) is not Exception:
                raise
            # aiormq rejects the calls still waiting on a channel closed without a
            # reason (a cut connection) with a bare ``Exception``.
            raise BackendUnavailable(
                f"RabbitMQ at {redacted(self.url)} closed the channel mid-call"
            ) from exc

    async def connection(self) -> AbstractRobustConnection:
        async with self._connecting:
            if self._connection is None:
                async with self.answers():
                    self._connection = await aio_pika.connect_robust(
                        self.url, timeout=CONNECT_TIMEOUT, reconnect_interval=RECONNECT_SECONDS
                    )
        return self._connection

    async def _exchanges(self) -> tuple[AbstractExchange, AbstractExchange]:
        """The topic exchange and the default exchange, on the confirming channel."""
        if self._publisher is None:
            connection = await self.connection()
            self._publisher = await connection.channel(publisher_confirms=True)
            self._exchange = await self._publisher.declare_exchange(
                EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True
            )
        assert self._exchange is not None
        return self._exchange, self._publisher.default_exchange

    async def _publish(self, topic: str, events: Sequence[Event]) -> None:
        async with self.answers():
            exchange, _ = await self._exchanges()
            await asyncio.gather(
                *(
                    exchange.publish(_message(e.to_json(), e.id), topic, mandatory=False)
                    for e in events
                )
            )

    async def republish(
        self, body: bytes, message_id: str | None, queue: str, attempts: int
    ) -> None:
        """Put a copy straight into ``queue`` (a retry queue), confirmed."""
        _, default = await self._exchanges()
        await default.publish(_message(body, message_id, {ATTEMPTS: attempts}), queue)

    async def declare_group(
        self, channel: AbstractChannel, topic: str, group: str
    ) -> AbstractQueue:
        """Declare (idempotently) the group's queue, its binding and its retry ladder."""
        name = queue_name(topic, group)
        arguments: dict[str, Any] = {"x-queue-type": "quorum"}
        if self.maxlen is not None:
            arguments |= {"x-max-length": self.maxlen, "x-overflow": "reject-publish"}
        queue = await channel.declare_queue(name, durable=True, arguments=arguments)
        await channel.declare_exchange(EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True)
        await queue.bind(EXCHANGE, routing_key=topic)
        for rung in RETRY_RUNGS:
            await channel.declare_queue(
                retry_queue_name(topic, group, rung),
                durable=True,
                arguments={
                    "x-message-ttl": int(rung * 1000),
                    "x-dead-letter-exchange": "",
                    "x-dead-letter-routing-key": name,
                },
            )
        return queue

    async def _subscribe(
        self, topic: str, group: str, consumer: str, ack_wait: float
    ) -> RabbitMQSubscription:
        async with self.answers():
            channel = await (await self.connection()).channel()
            queue = await self.declare_group(channel, topic, group)
        return RabbitMQSubscription(self, channel, queue, topic, group, ack_wait)

    async def _lag(self, topic: str, group: str) -> int:
        names = [queue_name(topic, group)]
        names += [retry_queue_name(topic, group, rung) for rung in RETRY_RUNGS]
        async with self.answers():
            channel = await (await self.connection()).channel()
            try:
                return sum([await _ready(channel, name) for name in names])
            except aiormq.exceptions.ChannelNotFoundEntity:
                return 0  # no such group: RabbitMQ kept nothing for it
            finally:
                with contextlib.suppress(aiormq.exceptions.AMQPError, RuntimeError):
                    await channel.close()

    async def _waiting(self, topic: str, group: str) -> int | None:
        """The ready events of the group's queue (passively: a missing queue is not made)."""
        async with self.answers():
            channel = await (await self.connection()).channel()
            try:
                return await _ready(channel, queue_name(topic, group))
            except aiormq.exceptions.ChannelNotFoundEntity:
                return None
            finally:
                with contextlib.suppress(aiormq.exceptions.AMQPError, RuntimeError):
                    await channel.close()

    async def _delete_topic(self, topic: str, groups: tuple[str, ...]) -> None:
        """Delete the named groups' queues; RabbitMQ cannot list the others over AMQP."""
        async with self.answers():
            channel = await (await self.connection()).channel()
            try:
                for group in groups:
                    await channel.queue_delete(queue_name(topic, group))
                    for rung in RETRY_RUNGS:
                        await channel.queue_delete(retry_queue_name(topic, group, rung))
            finally:
                await channel.close()

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()
            self._connection = self._publisher = self._exchange = None


async def _ready(channel: AbstractChannel, name: str) -> int:
    queue = await channel.declare_queue(name, passive=True)
    return queue.declaration_result.message_count or 0


def _message(body: bytes, message_id: str | None, headers: dict | None = None) -> aio_pika.Message:
    return aio_pika.Message(
        body,
        message_id=message_id,
        headers=headers or {},
        content_type="application/cloudevents+json",
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
    )


class RabbitMQSubscription(BaseSubscription):
    """One consumer: its own channel, so closing it returns exactly its deliveries."""

    def __init__(
        self,
        bus: RabbitMQBus,
        channel: AbstractChannel,
        queue: AbstractQueue,
        topic: str,
        group: str,
        ack_wait: float,
    ) -> None:
        self.bus, self.channel, self.queue = bus, channel, queue
        self.topic, self.group, self.ack_wait = topic, group, ack_wait
        # id(message) -> ack_wait timer, in arrival order: exactly the deliveries whose
        # ack/nack has not been written to the channel yet (an entry stays while its
        # settle is in progress), which is what makes ``multiple=True`` safe to check
        self._leases: dict[int, tuple[asyncio.TimerHandle, AbstractIncomingMessage]] = {}
        self._returning: set[asyncio.Task[None]] = set()  # nacks of expired leases
        self._arrived: deque[AbstractIncomingMessage] = deque()  # pushed, not handed out
        self._arrival = asyncio.Event()

    async def _fetch(self, max_messages: int, timeout: float) -> list[Delivery]:
        got = self._take(max_messages)
        if got:  # events pushed after the previous fetch returned
            return got
        async with self.bus.answers():
            await self.channel.set_qos(prefetch_count=min(max_messages, MAX_PREFETCH))
            tag = await self.queue.consume(self._on_message, no_ack=False)
            try:
                await self._collect(max_messages, timeout)
            finally:  # best effort: a consumer also ends with its channel; a channel closed
                # by a cut connection fails its calls with whatever closed it, even a bare
                # ``Exception``, which must not take the fetch (and its runner) down
                with contextlib.suppress(Exception):
                    await self.queue.cancel(tag)
        return self._take(max_messages)

    async def _collect(self, limit: int, timeout: float) -> None:
        """Wait up to ``timeout`` for the first event, then for the rest of the batch
        while events keep coming (the broker streams them back to back)."""
        wait = timeout
        while len(self._arrived) < limit:
            self._arrival.clear()
            try:
                await asyncio.wait_for(self._arrival.wait(), wait)
            except TimeoutError:
                return
            wait = SETTLE_SECONDS

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        loop = asyncio.get_running_loop()
        lease = loop.call_later(self.ack_wait, self._expire, message)
        self._leases[id(message)] = (lease, message)
        self._arrived.append(message)
        self._arrival.set()

    def _take(self, limit: int) -> list[Delivery]:
        got: list[AbstractIncomingMessage] = []
        while self._arrived and len(got) < limit:
            message = self._arrived.popleft()
            if id(message) in self._leases:  # else its lease ran out while it waited
                got.append(message)
        events = Event.batch_from_bus([message.body for message in got])
        return [self._delivery(m, event) for m, event in zip(got, events, strict=True)]

    def _delivery(self, message: AbstractIncomingMessage, event: Event) -> Delivery:
        headers = message.headers or {}
        attempt = int(headers.get(ATTEMPTS, 0)) + int(headers.get("x-delivery-count", 0)) + 1
        return Delivery(event, attempt, owner=self, handle=message)

    async def _ack(self, delivery: Delivery) -> None:
        await self._settle(delivery.handle, delivery.attempt, None)  # type: ignore[arg-type]

    async def _nack(self, delivery: Delivery, delay: float) -> None:
        await self._settle(delivery.handle, delivery.attempt, delay)  # type: ignore[arg-type]

    async def _ack_many(self, deliveries: list[Delivery]) -> None:
        """Acks with no reply to wait for. When the batch is exactly the oldest unsettled
        deliveries of the channel, one ``basic.ack`` with ``multiple=True`` on the newest
        settles them all; otherwise (another handler still holds an older one, or an
        expired lease's requeue is on its way) one ``basic.ack`` each, back to back.
        Batches come as ``Batch.of`` ``fetch``'s deliveries and are acked through here."""
        messages: list[AbstractIncomingMessage] = []
        for delivery in deliveries:
            if id(delivery.handle) in self._leases:  # else ack_wait ran out: it went back
                messages.append(delivery.handle)  # type: ignore[arg-type]
        if not messages:
            return
        prefix = self._is_oldest(messages)
        for message in messages:
            self._leases[id(message)][0].cancel()
        try:
            async with self.bus.answers():
                with contextlib.suppress(aiormq.exceptions.ChannelInvalidStateError):
                    if prefix:
                        await messages[-1].ack(multiple=True)
                    else:
                        await asyncio.gather(*(message.ack() for message in messages))
        finally:  # unsettled on the channel until written: see ``_leases``
            for message in messages:
                self._leases.pop(id(message), None)

    def _is_oldest(self, messages: list[AbstractIncomingMessage]) -> bool:
        """Whether ``messages``, in order, are the first unsettled ones, all on one channel,
        and no expired lease's requeue is still to be written (``multiple=True`` written
        before it would ack that event instead)."""
        if len(messages) < 2 or self._returning:
            return False
        oldest = iter(self._leases.values())
        try:
            channel = messages[-1].channel
            return all(
                next(oldest, (None, None))[1] is message and message.channel is channel
                for message in messages
            )
        except aiormq.exceptions.ChannelInvalidStateError:
            return False  # the channel is gone (a cut connection): its deliveries went back

    def _expire(self, message: AbstractIncomingMessage) -> None:
        """ack_wait is over: give the delivery back so that another consumer gets it."""
        self._leases.pop(id(message), None)
        task = asyncio.ensure_future(message.nack(requeue=True))
        self._returning.add(task)
        task.add_done_callback(self._returned)

    def _returned(self, task: asyncio.Task[None]) -> None:
        self._returning.discard(task)
        if not task.cancelled():
            task.exception()  # a closed channel returned it anyway; nothing to report

    async def _settle(
        self, message: AbstractIncomingMessage, attempt: int, delay: float | None
    ) -> None:
        lease = self._leases.get(id(message))
        if lease is None:  # ack_wait ran out and the event went back to the queue
            return
        lease[0].cancel()
        # If the channel died meanwhile, the broker requeued the event when it did.
        try:
            async with self.bus.answers():
                with contextlib.suppress(aiormq.exceptions.ChannelInvalidStateError):
                    await self._finish(message, attempt, delay)
        finally:  # only now is it settled on the channel (``multiple=True`` may skip it)
            self._leases.pop(id(message), None)

    async def _finish(
        self, message: AbstractIncomingMessage, attempt: int, delay: float | None
    ) -> None:
        if delay is None:
            await message.ack()
        elif delay == 0:
            await message.nack(requeue=True)
        else:
            target = retry_queue_name(self.topic, self.group, retry_rung(delay))
            await self.bus.republish(message.body, message.message_id, target, attempt)
            await message.ack()

    async def close(self) -> None:
        """Close the channel: RabbitMQ requeues every delivery not yet acked, at once."""
        for lease, _ in self._leases.values():
            lease.cancel()
        self._leases.clear()
        self._arrived.clear()
        with contextlib.suppress(aiormq.exceptions.AMQPError, RuntimeError):
            await self.channel.close()
