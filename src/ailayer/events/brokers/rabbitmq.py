"""``amqp://user:pass@host:port/vhost``: RabbitMQ through aio-pika.

- Every topic publishes to the durable topic exchange ``ailayer.events`` with the topic as
  routing key, persistent messages, and waits for publisher confirms.
- A group is the durable quorum queue ``ailayer.<topic>.<group>`` bound to that key. Quorum
  queues count returns in ``x-delivery-count``, which feeds ``Delivery.attempt``. RabbitMQ
  keeps no history: a group receives what is published after its queue exists, and events
  published while a topic has no group at all are dropped by the exchange.
- ``fetch`` pulls with ``basic.get`` on the subscription's own channel: it never holds more
  than asked, nothing waits in a hidden prefetch buffer, and ``lag`` (ready messages,
  counted by the broker) therefore sees every event not yet handed out.
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
import time
from collections.abc import AsyncIterator, Iterable, Sequence
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
from ailayer.events.bus import (
    DEFAULT_ACK_WAIT,
    Delivery,
    check_fetch,
    check_name,
    check_publish,
    check_subscription,
    settle_batch,
)
from ailayer.events.envelope import Event

EXCHANGE = "ailayer.events"
ATTEMPTS = "x-ailayer-attempts"
RETRY_RUNGS = (0.25, 1, 5, 15, 60, 300, 900, 3600)
CONNECT_TIMEOUT = 5.0
POLL_SECONDS = 0.05
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


class RabbitMQBus:
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

    async def publish(self, topic: str, events: Sequence[Event]) -> None:
        check_publish(topic, events)
        if not events:
            return
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

    async def subscribe(
        self, topic: str, group: str, consumer: str, *, ack_wait: float = DEFAULT_ACK_WAIT
    ) -> RabbitMQSubscription:
        check_subscription(topic, group, consumer, ack_wait)
        async with self.answers():
            channel = await (await self.connection()).channel()
            queue = await self.declare_group(channel, topic, group)
        return RabbitMQSubscription(self, channel, queue, topic, group, ack_wait)

    async def lag(self, topic: str, group: str) -> int:
        check_name("topic", topic)
        check_name("group", group)
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

    async def delete_topic(self, topic: str, groups: Iterable[str] = ()) -> None:
        """Delete the named groups' queues; RabbitMQ cannot list the others over AMQP."""
        check_name("topic", topic)
        async with self.answers():
            channel = await (await self.connection()).channel()
            try:
                for group in groups:
                    await channel.queue_delete(queue_name(topic, check_name("group", group)))
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


class RabbitMQSubscription:
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
        self._leases: dict[int, asyncio.TimerHandle] = {}  # id(message) -> ack_wait timer
        self._returning: set[asyncio.Task[None]] = set()  # nacks of expired leases

    async def fetch(self, max_messages: int = 100, timeout: float = 1.0) -> list[Delivery]:
        check_fetch(max_messages, timeout)
        deadline = time.monotonic() + timeout
        async with self.bus.answers():
            while True:
                got = await self._drain(max_messages)
                if got or time.monotonic() >= deadline:
                    return got
                await asyncio.sleep(min(POLL_SECONDS, max(0.0, deadline - time.monotonic())))

    async def _drain(self, limit: int) -> list[Delivery]:
        got = []
        while len(got) < limit:
            message = await self.queue.get(no_ack=False, fail=False)
            if message is None:
                break
            got.append(self._delivery(message))
        return got

    def _delivery(self, message: AbstractIncomingMessage) -> Delivery:
        headers = message.headers or {}
        attempt = int(headers.get(ATTEMPTS, 0)) + int(headers.get("x-delivery-count", 0)) + 1
        loop = asyncio.get_running_loop()
        self._leases[id(message)] = loop.call_later(self.ack_wait, self._expire, message)
        return Delivery(
            Event.from_bus(message.body),
            attempt,
            ack=lambda: self._settle(message, attempt, None),
            nack=lambda delay: self._settle(message, attempt, delay),
            owner=self,
            handle=message,
        )

    async def ack_many(self, deliveries: Sequence[Delivery]) -> None:
        """``basic.ack`` for each on the channel, written back to back: AMQP acks get no
        reply, so nothing is awaited per delivery. Not ``multiple=True``: the channel may
        hold other unacked ``basic.get`` deliveries below the highest tag (another
        handler's, or an expired lease whose requeue is on its way), which it would ack too."""
        messages: list[AbstractIncomingMessage] = []
        for delivery in settle_batch(self, deliveries):
            lease = self._leases.pop(id(delivery.handle), None)
            if lease is not None:  # None: ack_wait ran out and the event went back
                lease.cancel()
                messages.append(delivery.handle)  # type: ignore[arg-type]
        if not messages:
            return
        async with self.bus.answers():
            with contextlib.suppress(aiormq.exceptions.ChannelInvalidStateError):
                await asyncio.gather(*(message.ack() for message in messages))

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
        lease = self._leases.pop(id(message), None)
        if lease is None:  # ack_wait ran out and the event went back to the queue
            return
        lease.cancel()
        # If the channel died meanwhile, the broker requeued the event when it did.
        async with self.bus.answers():
            with contextlib.suppress(aiormq.exceptions.ChannelInvalidStateError):
                await self._finish(message, attempt, delay)

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
        for lease in self._leases.values():
            lease.cancel()
        self._leases.clear()
        with contextlib.suppress(aiormq.exceptions.AMQPError, RuntimeError):
            await self.channel.close()
