"""``nats://host:port``: NATS JetStream, one stream per topic, one durable consumer per group.

- A topic is the file-backed stream ``ailayer_<topic>`` on subject ``ailayer.<topic>``,
  created on first use, keeping at most ``?maxlen=N`` messages (default 1,000,000; the
  oldest are discarded first). Each event is published with ``Nats-Msg-Id`` = its tenant
  and id (``scope.scoped``), so JetStream drops a retried publish inside its duplicate
  window (2 minutes) but never another tenant's event with the same id; a dead letter
  replayed to its topic adds ``:r<N>`` (its ``dlqreplays``) so that it is not dropped.
- A group is a durable pull consumer named after it (explicit acks, ``deliver all``, so a
  new group also reads what the stream holds). Every subscriber of a group pulls from the
  same consumer, which shares the work between them.
- ``ack_wait`` is a property of the JetStream consumer, i.e. of the group: subscribing
  with a different value updates the consumer, and the last subscriber's value wins.
- ``fetch`` sends nats-py's pull requests but takes the messages from the subscription's
  queue itself (``JetStreamSubscription._pull``): nats-py's ``fetch`` awaits each message
  with its own task and timer, which cost more CPU than everything else a consumer does.
- ``nack(delay)`` is JetStream's ``NAK`` with a delay; ``ack`` waits for the server's reply.
- Backpressure: at most ``?max_ack_pending=N`` (default 1,000) deliveries are in flight per
  group; beyond that fetches return nothing until some are acked. ``publish`` awaits each
  batch's acks, with at most 4,000 unacknowledged publishes per connection.

The client reconnects by itself (forever, every 0.5 s) after a server restart or a cut.
Ordering: the stream is one ordered log, but redeliveries and several pullers interleave,
so per-key order is not kept across consumers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Sequence
from typing import Any, TypeVar

import nats
import nats.errors
import nats.js.errors
import orjson
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    RetentionPolicy,
    StatusCode,
    StorageType,
    StreamConfig,
)

from ailayer.core.errors import BackendUnavailable
from ailayer.core.settings import redacted
from ailayer.events.brokers._url import split_options
from ailayer.events.bus import BaseBus, BaseSubscription, Batch, Delivery
from ailayer.events.envelope import Event
from ailayer.events.scope import scoped

logger = logging.getLogger(__name__)
T = TypeVar("T")

DEFAULT_MAXLEN = 1_000_000
DEFAULT_MAX_ACK_PENDING = 1000
CONNECT_TIMEOUT = 5.0
REQUEST_TIMEOUT = 10.0
MIN_FETCH_SECONDS = 0.01
QUIET_SECONDS = 0.005  # a fetch hands over what came once none came for this long
STREAM_EXISTS = 10058
SEQUENCE_NOT_FOUND = 10043  # JetStream: no message at that stream sequence
_TRANSIENT = (
    nats.errors.ConnectionClosedError,
    nats.errors.NoServersError,
    nats.errors.TimeoutError,
    nats.errors.StaleConnectionError,
    nats.js.errors.ServiceUnavailableError,
    nats.js.errors.NoStreamResponseError,
    TimeoutError,
    OSError,
)


async def _log_error(exc: Exception) -> None:
    logger.warning("nats: %r", exc)


def stream_name(topic: str) -> str:
    return f"ailayer_{topic}"


def subject(topic: str) -> str:
    return f"ailayer.{topic}"


def msg_id(event: Event) -> str:
    """The duplicate-window id: the event's tenant and id, plus the replay count of a
    replayed dead letter, so that replaying within 2 minutes of the original is not
    dropped."""
    replays = event.extensions.get("dlqreplays")
    key = scoped(event.tenant, event.id)
    return f"{key}:r{replays}" if replays else key


class JetStreamBus(BaseBus):
    """The bus on NATS JetStream; connects on first use."""

    def __init__(
        self,
        url: str,
        *,
        maxlen: int = DEFAULT_MAXLEN,
        max_ack_pending: int = DEFAULT_MAX_ACK_PENDING,
    ) -> None:
        self.url = url
        self.maxlen = maxlen
        self.max_ack_pending = max_ack_pending
        self._nc: Client | None = None
        self._connecting = asyncio.Lock()
        self._streams: set[str] = set()
        self._lost = asyncio.Event()  # set while the connection is down
        self._releasing: set[asyncio.Future[None]] = set()  # closed subscriptions' tails

    @classmethod
    def from_url(cls, url: str) -> JetStreamBus:
        url, options = split_options(url, {"maxlen": int, "max_ack_pending": int})
        return cls(url, **options)  # type: ignore[arg-type]

    @contextlib.asynccontextmanager
    async def _answers(self) -> AsyncIterator[None]:
        try:
            yield
        except _TRANSIENT as exc:
            raise BackendUnavailable(
                f"NATS at {redacted(self.url)} is unavailable: {exc!r}"
            ) from exc

    async def _js(self) -> JetStreamContext:
        async with self._connecting:
            if self._nc is None:
                async with self._answers():
                    self._nc = await asyncio.wait_for(self._connect(), CONNECT_TIMEOUT)
        return self._nc.jetstream(timeout=REQUEST_TIMEOUT)

    async def _disconnected(self) -> None:
        self._lost.set()

    async def _reconnected(self) -> None:
        self._lost.clear()

    def _require_connected(self) -> None:
        """Fail fast while reconnecting: the client would buffer the publish and make the
        caller wait the full request timeout for acks (an outbox spools instead)."""
        if self._lost.is_set() or (self._nc is not None and not self._nc.is_connected):
            raise BackendUnavailable(f"NATS at {redacted(self.url)} is unavailable: reconnecting")

    async def _connect(self) -> Client:
        """Fail fast on the first connect; once connected, reconnect forever."""
        nc = await nats.connect(
            self.url,
            allow_reconnect=True,
            max_reconnect_attempts=1,
            reconnect_time_wait=0.5,
            connect_timeout=2,
            error_cb=_log_error,
            disconnected_cb=self._disconnected,
            reconnected_cb=self._reconnected,
        )
        nc.options["max_reconnect_attempts"] = -1  # read by the client at each reconnect
        return nc

    async def _ensure_stream(self, js: JetStreamContext, topic: str) -> str:
        name = stream_name(topic)
        if name in self._streams:
            return name
        config = StreamConfig(
            name=name,
            subjects=[subject(topic)],
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            max_msgs=self.maxlen,
            discard=DiscardPolicy.OLD,
        )
        try:
            await js.add_stream(config)
        except nats.js.errors.BadRequestError as exc:
            if exc.err_code != STREAM_EXISTS:
                raise
        self._streams.add(name)
        return name

    async def _publish(self, topic: str, events: Sequence[Event]) -> None:
        js = await self._js()
        self._require_connected()
        async with self._answers():
            stream = await self._ensure_stream(js, topic)
            acks = [
                await js.publish_async(
                    subject(topic), e.to_json(), stream=stream, headers={"Nats-Msg-Id": msg_id(e)}
                )
                for e in events
            ]
            await self._acked(acks)

    async def _acked(self, acks: list[asyncio.Future]) -> None:
        await self.unless_lost(asyncio.gather(*acks))

    async def unless_lost(self, call: Awaitable[T]) -> T:
        """Await ``call``, but fail as soon as the connection drops: replies to requests
        written to a dead socket never come, and callers should not wait out the timeout."""
        work = asyncio.ensure_future(call)
        lost = asyncio.ensure_future(self._lost.wait())
        done, _ = await asyncio.wait(
            {work, lost}, timeout=REQUEST_TIMEOUT, return_when=asyncio.FIRST_COMPLETED
        )
        lost.cancel()
        if work not in done:
            work.cancel()
            with contextlib.suppress(asyncio.CancelledError, *_TRANSIENT):
                await work
            raise BackendUnavailable(f"NATS at {redacted(self.url)} is unavailable: no reply")
        return work.result()

    async def _subscribe(
        self, topic: str, group: str, consumer: str, ack_wait: float
    ) -> JetStreamSubscription:
        js = await self._js()
        async with self._answers():
            stream = await self._ensure_stream(js, topic)
            config = ConsumerConfig(
                durable_name=group,
                ack_policy=AckPolicy.EXPLICIT,
                deliver_policy=DeliverPolicy.ALL,
                ack_wait=ack_wait,
                max_ack_pending=self.max_ack_pending,
                max_deliver=-1,
                filter_subject=subject(topic),
            )
            await js.add_consumer(stream, config)
            pull = await js.pull_subscribe_bind(durable=group, stream=stream)
        return JetStreamSubscription(self, pull)

    async def _lag(self, topic: str, group: str) -> int:
        js = await self._js()
        async with self._answers():
            try:
                info = await js.consumer_info(stream_name(topic), group)
            except nats.js.errors.NotFoundError:
                return await self._stream_size(js, topic)
        return info.num_pending + info.num_ack_pending

    async def _stream_size(self, js: JetStreamContext, topic: str) -> int:
        try:
            info = await js.stream_info(stream_name(topic))
        except nats.js.errors.NotFoundError:
            return 0
        return info.state.messages

    async def _retained(self, topic: str) -> list[tuple[Any, Event]]:
        """Each stored message by its stream sequence (a direct get each: for the rare
        data subject request, never the consumers' path)."""
        js = await self._js()
        found: list[tuple[Any, Event]] = []
        async with self._answers():
            try:
                state = (await js.stream_info(stream_name(topic))).state
            except nats.js.errors.NotFoundError:
                return found
            if not state.messages:
                return found
            for seq in range(state.first_seq, state.last_seq + 1):
                try:
                    message = await js.get_msg(stream_name(topic), seq)
                except (nats.js.errors.NotFoundError, nats.js.errors.BadRequestError) as exc:
                    if not _no_such_message(exc):
                        raise
                    continue  # deleted or trimmed
                found.append((seq, Event.from_json(message.data or b"")))
        return found

    async def _forget(self, topic: str, handles: list[Any]) -> int:
        js = await self._js()
        removed = 0
        async with self._answers():
            for seq in handles:
                try:
                    removed += bool(await js.delete_msg(stream_name(topic), int(seq)))
                except (nats.js.errors.NotFoundError, nats.js.errors.BadRequestError) as exc:
                    if not _no_such_message(exc):
                        raise
        return removed

    async def _delete_topic(self, topic: str, groups: tuple[str, ...]) -> None:
        js = await self._js()
        async with self._answers():
            with contextlib.suppress(nats.js.errors.NotFoundError):
                await js.delete_stream(stream_name(topic))
        self._streams.discard(stream_name(topic))

    async def close(self) -> None:
        if self._releasing:  # let closed subscriptions hand back their late deliveries
            await asyncio.wait(set(self._releasing), timeout=REQUEST_TIMEOUT)
        if self._nc is not None:
            await self._nc.close()
            self._nc = None


def _no_such_message(exc: Exception) -> bool:
    """A stream sequence that holds no message (deleted or trimmed): 404, or 400 with
    JetStream's ``sequence not found`` code."""
    return isinstance(exc, nats.js.errors.NotFoundError) or (
        getattr(exc, "err_code", None) == SEQUENCE_NOT_FOUND
    )


def delivered(msg: Msg) -> int:
    """The delivery count from the ack subject, without building nats-py's whole
    ``Metadata``: ``$JS.ACK.<stream>.<consumer>.<delivered>.…`` (9 tokens) or, with a
    domain and account hash, ``$JS.ACK.<domain>.<hash>.<stream>.<consumer>.<delivered>.…``
    (12). Stream and consumer names cannot contain dots."""
    tokens = (msg.reply or "").split(".")
    if len(tokens) == 9 and tokens[1] == "ACK":
        return int(tokens[4])
    if len(tokens) >= 11 and tokens[1] == "ACK":
        return int(tokens[6])
    return msg.metadata.num_delivered


class JetStreamSubscription(BaseSubscription):
    """One puller on a group's durable consumer."""

    def __init__(self, bus: JetStreamBus, pull: JetStreamContext.PullSubscription) -> None:
        self.bus = bus
        self.pull = pull
        self._lingering_until = 0.0  # when the last pull request expires on the server

    async def _fetch(self, max_messages: int, timeout: float) -> list[Delivery]:
        msgs = await self._messages(max_messages, timeout)
        events = Event.batch_from_bus([msg.data for msg in msgs])
        return [self._delivery(msg, event) for msg, event in zip(msgs, events, strict=True)]

    async def _fetch_batch(self, max_messages: int, timeout: float) -> Batch:
        """The messages' bodies decoded with one ``orjson.loads``, no ``Event`` or
        ``Delivery`` per message."""
        msgs = await self._messages(max_messages, timeout)
        bodies = Event.batch_bodies([msg.data for msg in msgs])

        def deliver(i: int) -> Delivery:
            return self._delivery(msgs[i], Event.from_bus_body(bodies[i]))

        return Batch(self, bodies, [delivered(msg) for msg in msgs], msgs, deliver)

    async def _messages(self, max_messages: int, timeout: float) -> list[Msg]:
        timeout = max(timeout, MIN_FETCH_SECONDS)
        self._lingering_until = time.monotonic() + timeout
        async with self.bus._answers():
            return await self._pull(max_messages, timeout)

    async def _pull(self, limit: int, timeout: float) -> list[Msg]:
        """Up to ``limit`` messages: those already in the subscription's queue, else one
        pull request's worth. The requests are nats-py ``fetch``'s — first ``no_wait``
        (what the consumer has now, then a 404/408 status), and only if that brought
        nothing one that lingers until ``timeout``, answered as soon as something comes
        (what the lingering request delivers later waits in the queue for the next fetch,
        or is NAKed by ``close``). But the messages are taken from the queue as they come,
        not through one ``next_msg`` each (a task, a timer and a uuid per message: most of
        a consumer's CPU on this broker)."""
        nc = self.bus._nc
        if nc is None or nc.is_closed:
            raise nats.errors.ConnectionClosedError
        msgs: list[Msg] = []
        self._take_queued(msgs, limit)
        if msgs:
            return msgs
        deadline = time.monotonic() + timeout
        with contextlib.suppress(TimeoutError):  # the deadline passed: what came, maybe none
            async with asyncio.timeout(timeout):
                await self._request(nc, msgs, limit, {"no_wait": True})
                expires = int((deadline - time.monotonic()) * 1e9) - 100_000
                if not msgs and expires > 0:
                    await self._request(nc, msgs, limit, {"expires": expires}, first=True)
        return msgs

    async def _request(
        self,
        nc: Client,
        msgs: list[Msg],
        limit: int,
        options: dict[str, object],
        first: bool = False,
    ) -> None:
        """Ask for ``limit - len(msgs)`` messages and collect them into ``msgs``: until
        there are ``limit``, the server says it has no more for this request (a 404/408/409
        status), or none came for ``QUIET_SECONDS`` (messages for earlier, lingering
        requests can trickle in for long); with ``first``, only those that came with the
        first one, and statuses do not end the wait (one queued late from an expired
        earlier request would end it empty)."""
        request = orjson.dumps({"batch": limit - len(msgs), **options})
        await nc.publish(self.pull._nms, request, reply=self.pull._deliver)
        sub = self.pull._sub
        while len(msgs) < limit:
            try:
                async with asyncio.timeout(QUIET_SECONDS if msgs else None):
                    msg = await sub._pending_queue.get()
            except TimeoutError:
                return  # nothing more came for a moment: hand over what did
            sub._pending_size -= len(msg.data)
            status = JetStreamContext.is_status_msg(msg)
            if status is None:
                msgs.append(msg)
                self._take_queued(msgs, limit)
                if first:
                    return
            elif status != StatusCode.CONTROL_MESSAGE:  # a heartbeat goes on waiting
                if not JetStreamContext._is_temporary_error(status):
                    raise nats.js.errors.APIError.from_msg(msg)
                if not first:
                    return  # 404, 408, 409: the no_wait request is over
                # waiting for the first message, a status is more likely an earlier
                # request's (its expiry): wait on; the fetch's deadline bounds the wait

    def _take_queued(self, msgs: list[Msg], limit: int) -> None:
        """Move queued messages into ``msgs`` without waiting, up to ``limit``; status
        messages left over from earlier requests are dropped, as nats-py's fetch does."""
        sub = self.pull._sub
        queue = sub._pending_queue
        while len(msgs) < limit and not queue.empty():
            msg = queue.get_nowait()
            sub._pending_size -= len(msg.data)
            if JetStreamContext.is_status_msg(msg) is None:
                msgs.append(msg)

    def _delivery(self, msg: Msg, event: Event) -> Delivery:
        return Delivery(event, delivered(msg), owner=self, handle=msg)

    async def _ack(self, delivery: Delivery) -> None:
        msg: Msg = delivery.handle  # type: ignore[assignment]
        await self._settle(msg.ack_sync(REQUEST_TIMEOUT))

    async def _nack(self, delivery: Delivery, delay: float) -> None:
        msg: Msg = delivery.handle  # type: ignore[assignment]
        await self._settle(msg.nak(delay or None))

    async def _ack_many(self, deliveries: list[Delivery]) -> None:
        await self._ack_msgs([d.handle for d in deliveries])  # type: ignore[misc]

    async def _ack_batches(self, todo: list[tuple[Batch, Sequence[int]]]) -> None:
        msgs: list[Msg] = []
        for batch, indices in todo:
            handles = batch.handles
            msgs.extend(handles[i] for i in indices)  # type: ignore[misc]
        await self._ack_msgs(msgs)

    async def _ack_msgs(self, msgs: list[Msg]) -> None:
        """Publish every ``+ACK`` without waiting for replies, then one flush (PING/PONG):
        when it returns the server has all the acks. JetStream applies them to the
        consumer asynchronously, so ``lag`` may count them for a few more milliseconds."""
        nc = self.bus._nc
        if nc is None:
            raise BackendUnavailable(f"NATS at {redacted(self.bus.url)} is closed")
        self.bus._require_connected()
        async with self.bus._answers():
            for msg in msgs:
                await msg.ack()  # buffered by the client: no reply is awaited
            await self.bus.unless_lost(nc.flush(REQUEST_TIMEOUT))

    async def _settle(self, call: Awaitable[object]) -> None:
        async with self.bus._answers():
            await self.bus.unless_lost(call)

    async def close(self) -> None:
        """Stop pulling; deliveries not acked go to the group's others after ack_wait.

        Messages delivered to this puller but never handed out are NAKed, so that they go
        to another consumer at once instead of after ``ack_wait``: what pull requests
        delivered after their fetch returned, left in the client's queue, and — until the last
        pull request expires on the server (at most the last fetch's ``timeout``) — what
        still arrives for it; a background task keeps the inbox open that long, and
        ``JetStreamBus.close`` waits for it. Without this, an event the server hands to a
        request of a closed puller waits out a whole extra ``ack_wait``."""
        await self._nak_all(self._queued())
        remaining = self._lingering_until - time.monotonic()
        if remaining <= 0:
            await self._unsubscribe()
            return
        task = asyncio.ensure_future(self._release_late(remaining))
        self.bus._releasing.add(task)
        task.add_done_callback(self.bus._releasing.discard)

    async def _release_late(self, remaining: float) -> None:
        deadline = time.monotonic() + remaining
        try:
            while (left := deadline - time.monotonic()) > 0:
                try:
                    msg = await self.pull._sub.next_msg(timeout=left)
                except (TimeoutError, nats.errors.TimeoutError):
                    break
                await self._nak_all([msg])
        except (*_TRANSIENT, nats.errors.Error):
            pass  # the connection is gone: the server redelivers after ack_wait
        finally:
            await self._unsubscribe()

    async def _nak_all(self, msgs: list[Msg]) -> None:
        with contextlib.suppress(*_TRANSIENT, nats.errors.Error):
            for msg in msgs:
                if not JetStreamContext.is_status_msg(msg):  # not a 404/408 of a request
                    await msg.nak()

    async def _unsubscribe(self) -> None:
        with contextlib.suppress(
            nats.errors.ConnectionClosedError, nats.errors.BadSubscriptionError
        ):
            await self.pull.unsubscribe()

    def _queued(self) -> list[Msg]:
        """Messages waiting in nats-py's queue of this pull subscription."""
        queue = getattr(self.pull._sub, "_pending_queue", None)
        msgs = []
        while queue is not None and not queue.empty():
            msgs.append(queue.get_nowait())
        return msgs
