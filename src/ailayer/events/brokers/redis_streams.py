"""``redis://host:port/db``: Redis Streams with consumer groups.

- A topic is the stream ``ailayer:{topic}``; an event is one entry ``XADD … MAXLEN ~ N``
  (``?maxlen=N``, default 1,000,000: approximate trimming drops the oldest entries even if
  a group has not read them yet, which is what bounds Redis's memory). ``publish`` sends
  up to ``PUBLISH_CHUNK`` events as one script call that runs their XADDs: one command
  to encode and one reply to parse instead of one each per event (redis-py's per-command
  cost was most of publishing), and a chunk lands in the stream all at once, in order.
- A group is a Redis consumer group, created idempotently at ``0`` so that a new group
  also reads what the stream still holds. New events come from one ``XREADGROUP … BLOCK
  … >`` per fetch, whose reply the bus's own client leaves as hiredis parsed it (no
  per-entry dict from redis-py's callback): the bodies are joined and decoded with one
  ``orjson.loads``. (An earlier Lua script that packed the batch into three strings cost
  Redis about four times the plain command's CPU per event.)
- A delivery that is never acked stays in the group's pending list (PEL); after
  ``ack_wait`` it is taken over with ``XCLAIM`` (found by ``XPENDING … IDLE``), which also
  counts deliveries for ``Delivery.attempt``.
- ``nack(delay)`` leaves the entry in the PEL and records its due time in the sorted set
  ``ailayer:{topic}:delayed:<group>``; a fetch claims due entries atomically (one Lua
  script: ``ZREM`` + ``XCLAIM``), and stuck-entry recovery skips entries not yet due.

Ordering: one stream is one ordered log and first deliveries follow it; redeliveries and
several consumers of a group interleave, so per-key order is not kept across consumers.
The braces in the key names are a hash tag: a topic's keys share one Redis Cluster slot.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.connection import HiredisRespSerializer
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.utils import HIREDIS_AVAILABLE

from ailayer.core.errors import BackendUnavailable
from ailayer.core.settings import redacted
from ailayer.events.brokers._url import split_options
from ailayer.events.bus import BaseBus, BaseSubscription, Batch, Delivery
from ailayer.events.envelope import Event

DEFAULT_MAXLEN = 1_000_000
FIELD = b"event"
MAX_BLOCK_SECONDS = 1.0
RECHECK_SECONDS = 0.1  # see ``RedisSubscription._claimed``
PUBLISH_CHUNK = 1000  # events per script call (bounds how long Redis runs one script)

ADD_ALL = """
for i = 2, #ARGV do
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'event', ARGV[i])
end
return #ARGV - 1
"""

CLAIM_DUE = """
local ids = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[3], 'LIMIT', 0, ARGV[4])
if #ids == 0 then return {} end
redis.call('ZREM', KEYS[2], unpack(ids))
return redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, unpack(ids))
"""


def entry_bodies(reply: Any) -> tuple[list[bytes], list[bytes]]:
    """The entry ids and ``event`` bodies of a raw ``XREADGROUP`` reply on one stream
    (RESP3: ``{key: [[id, [field, value, ...]], ...]}``; RESP2: ``[[key, [...]]]``)."""
    if not reply:
        return [], []
    entries = next(iter(reply.values())) if type(reply) is dict else reply[0][1]
    ids, bodies = [], []
    for entry_id, fields in entries:
        if fields:  # None: the entry was trimmed while pending
            ids.append(entry_id)
            bodies.append(fields[1] if fields[0] == FIELD else _pairs(fields).get(FIELD, b""))
    return ids, bodies


def stream_key(topic: str) -> str:
    return f"ailayer:{{{topic}}}"


def delayed_key(topic: str, group: str) -> str:
    return f"ailayer:{{{topic}}}:delayed:{group}"


@contextlib.asynccontextmanager
async def _answers(url: str) -> AsyncIterator[None]:
    """Turn a lost connection into ``BackendUnavailable`` (after the client's retries)."""
    try:
        yield
    except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
        raise BackendUnavailable(f"Redis at {redacted(url)} is unavailable: {exc}") from exc


class RedisStreamsBus(BaseBus):
    """The bus on Redis Streams; see the module docstring for the key layout."""

    def __init__(self, url: str, *, maxlen: int = DEFAULT_MAXLEN) -> None:
        self.url = url
        self.maxlen = maxlen
        options: dict[str, Any] = {"health_check_interval": 30}
        if url.startswith("redis://") and HIREDIS_AVAILABLE:
            options["connection_class"] = HiredisPackingConnection
        self.redis = aioredis.Redis.from_url(url, **options)
        # this client is the bus's own: its XREADGROUP replies stay raw (``entry_bodies``)
        self.redis.set_response_callback("XREADGROUP", _raw)
        self._claim_due = self.redis.register_script(CLAIM_DUE)
        self._add_all = self.redis.register_script(ADD_ALL)

    @classmethod
    def from_url(cls, url: str) -> RedisStreamsBus:
        url, options = split_options(url, {"maxlen": int})
        return cls(url, **options)  # type: ignore[arg-type]

    async def _publish(self, topic: str, events: Sequence[Event]) -> None:
        key = stream_key(topic)
        async with _answers(self.url):
            for start in range(0, len(events), PUBLISH_CHUNK):
                bodies = [e.to_json() for e in events[start : start + PUBLISH_CHUNK]]
                await self._add_all(keys=[key], args=[self.maxlen, *bodies])

    async def _subscribe(
        self, topic: str, group: str, consumer: str, ack_wait: float
    ) -> RedisSubscription:
        async with _answers(self.url):
            try:
                await self.redis.xgroup_create(stream_key(topic), group, id="0", mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise
        return RedisSubscription(self, topic, group, consumer, ack_wait)

    async def _lag(self, topic: str, group: str) -> int:
        key = stream_key(topic)
        async with _answers(self.url):
            groups = await self.redis.xinfo_groups(key) if await self.redis.exists(key) else []
            info = next((g for g in groups if g["name"].decode() == group), None)
            if info is None:
                return await self.redis.xlen(key)
            unread = info.get("lag")
            if unread is None:  # Redis cannot tell after deletions; count the tail instead
                after = b"(" + info["last-delivered-id"]
                unread = len(await self.redis.xrange(key, min=after, max="+"))
            return int(unread) + int(info["pending"])

    async def _delete_topic(self, topic: str, groups: tuple[str, ...]) -> None:
        key = stream_key(topic)
        async with _answers(self.url):
            listed = await self.redis.xinfo_groups(key) if await self.redis.exists(key) else []
            names = {g["name"].decode() for g in listed} | set(groups)
            await self.redis.delete(key, *(delayed_key(topic, name) for name in names))

    async def _retained(self, topic: str) -> list[tuple[Any, Event]]:
        key, found, start = stream_key(topic), [], "-"
        async with _answers(self.url):
            while True:
                entries = await self.redis.xrange(key, min=start, max="+", count=1000)
                found += [
                    (entry_id, Event.from_json(fields[FIELD])) for entry_id, fields in entries
                ]
                if len(entries) < 1000:
                    return found
                start = b"(" + entries[-1][0]

    async def _forget(self, topic: str, handles: list[Any]) -> int:
        """Acked in every group and out of its delayed set first, then ``XDEL``: no
        group's pending list points at an entry that is gone."""
        key = stream_key(topic)
        async with _answers(self.url):
            groups = await self.redis.xinfo_groups(key) if await self.redis.exists(key) else []
            for group in groups:
                name = group["name"].decode()
                await self.redis.xack(key, name, *handles)
                await self.redis.zrem(delayed_key(topic, name), *handles)
            return int(await self.redis.xdel(key, *handles))

    async def close(self) -> None:
        await self.redis.aclose()


class HiredisPackingConnection(aioredis.Connection):
    """redis-py's asyncio connection packs a command in Python, one join per argument:
    a commit's ``XACK`` of 5,000 ids cost about 0.6 µs of the consumer's main thread per
    id, a publish of 1,000 events as much per event. hiredis packs it in C, as redis-py's
    own sync connection does (``HiredisRespSerializer``)."""

    _serializer = HiredisRespSerializer()

    def pack_command(self, *args: Any) -> list[bytes]:
        return self._serializer.pack(*args)


def _raw(response: Any, **options: Any) -> Any:
    return response


def _pairs(flat: list[bytes]) -> dict[bytes, bytes]:
    """A Lua reply's ``[field, value, ...]`` as the dict redis-py gives elsewhere."""
    return dict(zip(flat[::2], flat[1::2], strict=True))


class RedisSubscription(BaseSubscription):
    """One consumer of a Redis consumer group."""

    def __init__(
        self, bus: RedisStreamsBus, topic: str, group: str, consumer: str, ack_wait: float
    ) -> None:
        self.bus, self.topic, self.group, self.consumer = bus, topic, group, consumer
        self.ack_wait = ack_wait
        self.key = stream_key(topic)
        self.delayed = delayed_key(topic, group)
        self._flowing = False  # the last fetch brought events
        self._checked_at = 0.0  # when due and stuck entries were last looked for

    @property
    def _redis(self) -> aioredis.Redis:
        return self.bus.redis

    async def _fetch(self, max_messages: int, timeout: float) -> list[Delivery]:
        claimed, ids, bodies = await self._read(max_messages, timeout)
        if claimed:
            return claimed
        events = Event.batch_from_bus(bodies)
        return [self._make(i, e, 1) for i, e in zip(ids, events, strict=True)]

    async def _fetch_batch(self, max_messages: int, timeout: float) -> Batch:
        """New entries straight into columns: the bodies decoded with one ``orjson.loads``
        and no ``Event`` or ``Delivery`` per entry. Redeliveries (rare) come as
        ``Batch.of`` their deliveries."""
        claimed, ids, raws = await self._read(max_messages, timeout)
        if claimed:
            return Batch.of(self, claimed)
        bodies = Event.batch_bodies(raws)

        def deliver(i: int) -> Delivery:
            return self._make(ids[i], Event.from_bus_body(bodies[i]), 1)

        return Batch(self, bodies, [1] * len(ids), ids, deliver)

    async def _read(
        self, max_messages: int, timeout: float
    ) -> tuple[list[Delivery], list[bytes], list[bytes]]:
        """Claimed deliveries (due and stuck entries), or else the ids and raw bodies of
        new entries, waiting up to ``timeout`` s for some."""
        deadline = time.monotonic() + timeout
        async with _answers(self.bus.url):
            while True:
                claimed = await self._claimed(max_messages)
                if claimed:
                    self._flowing = True
                    return claimed, [], []
                now = time.monotonic()
                wait = min(deadline - now, MAX_BLOCK_SECONDS, self.ack_wait / 4)
                if self._flowing:  # the next look for claimed entries is due then
                    wait = min(wait, self._checked_at + RECHECK_SECONDS - now)
                ids, bodies = await self._new(max_messages, wait)
                if ids or time.monotonic() >= deadline:
                    self._flowing = bool(ids)
                    return [], ids, bodies

    async def _claimed(self, limit: int) -> list[Delivery]:
        """Due and stuck entries (two round trips). While events flow (the last fetch
        brought some) they are looked for at most every ``RECHECK_SECONDS``, and a fetch
        waits for new ones no longer than until the next look: they wait at most that much
        longer, and the stream flows without two extra round trips per fetch (a consumer
        that keeps up gets partial batches, so "while a backlog drains" was not enough)."""
        now = time.monotonic()
        if self._flowing and now - self._checked_at < RECHECK_SECONDS:
            return []
        self._checked_at = now
        got = await self._due(limit)
        return got + await self._stuck(limit - len(got))

    async def _due(self, limit: int) -> list[Delivery]:
        """Entries whose nack delay is over, claimed atomically by this consumer."""
        now_ms = int(time.time() * 1000)
        args = [self.group, self.consumer, now_ms, limit]
        raw = await self.bus._claim_due(keys=[self.key, self.delayed], args=args)
        entries = [(e[0], _pairs(e[1])) for e in raw if e and e[1]]
        if not entries:
            return []
        async with self._redis.pipeline(transaction=False) as pipe:
            for entry_id, _ in entries:
                pipe.xpending_range(self.key, self.group, entry_id, entry_id, 1)
            counts = [rows[0]["times_delivered"] if rows else 1 for rows in await pipe.execute()]
        return [self._delivery(e, n) for e, n in zip(entries, counts, strict=True)]

    async def _stuck(self, limit: int) -> list[Delivery]:
        """Entries idle longer than ack_wait (their consumer died), minus delayed ones."""
        if limit <= 0:
            return []
        idle_ms = int(self.ack_wait * 1000)
        rows = await self._redis.xpending_range(self.key, self.group, "-", "+", limit, idle=idle_ms)
        if not rows:
            return []
        ids = [row["message_id"] for row in rows]
        due = await self._redis.zmscore(self.delayed, ids)
        ids = [i for i, score in zip(ids, due, strict=True) if score is None]
        if not ids:
            return []
        counts = {row["message_id"]: row["times_delivered"] + 1 for row in rows}
        claimed = await self._redis.xclaim(self.key, self.group, self.consumer, idle_ms, ids)
        return [self._delivery(entry, counts[entry[0]]) for entry in claimed if entry[1]]

    async def _new(self, limit: int, wait: float) -> tuple[list[bytes], list[bytes]]:
        """New entries' ids and bodies, blocking up to ``wait`` s only when there are none."""
        block = ["BLOCK", int(wait * 1000)] if wait >= 0.001 else []  # no BLOCK: don't wait
        reply = await self._redis.execute_command(
            "XREADGROUP", "GROUP", self.group, self.consumer, "COUNT", limit,
            *block, "STREAMS", self.key, ">",
        )  # fmt: skip
        return entry_bodies(reply)

    def _delivery(self, entry: tuple[bytes, dict[bytes, Any]], attempt: int) -> Delivery:
        entry_id, fields = entry
        return self._make(entry_id, Event.from_bus(fields[FIELD]), attempt)

    def _make(self, entry_id: bytes, event: Event, attempt: int) -> Delivery:
        return Delivery(event, attempt, owner=self, handle=entry_id)

    async def _ack_many(self, deliveries: list[Delivery]) -> None:
        ids = [d.handle for d in deliveries]
        await self._ack_ids(ids, [d.handle for d in deliveries if d.attempt > 1])

    async def _ack_batches(self, todo: list[tuple[Batch, Sequence[int]]]) -> None:
        ids, again = [], []
        for batch, indices in todo:
            handles, attempts = batch.handles, batch.attempts
            if len(indices) == len(handles) and max(attempts, default=1) == 1:
                ids.extend(handles)  # the common case: a whole batch of first deliveries
                continue
            for i in indices:
                ids.append(handles[i])
                if attempts[i] > 1:
                    again.append(handles[i])
        await self._ack_ids(ids, again)

    async def _ack_ids(self, ids: list[Any], again: list[Any]) -> None:
        """One ``XACK key group id…``; with it, in the same round trip, a ``ZREM`` of any
        leftover nack due times of the redelivered ones (only an event delivered before
        can have been nacked, so a batch of first deliveries sends only the ``XACK``)."""
        if not ids:
            return
        async with _answers(self.bus.url):
            if not again:
                await self._redis.xack(self.key, self.group, *ids)
                return
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.xack(self.key, self.group, *ids)
                pipe.zrem(self.delayed, *again)
                await pipe.execute()

    async def _ack(self, delivery: Delivery) -> None:
        async with _answers(self.bus.url):
            await self._redis.xack(self.key, self.group, delivery.handle)

    async def _nack(self, delivery: Delivery, delay: float) -> None:
        due_ms = int((time.time() + delay) * 1000)
        async with _answers(self.bus.url):
            await self._redis.zadd(self.delayed, {delivery.handle: due_ms})

    async def close(self) -> None:
        """Nothing to release: the group's PEL keeps unacked entries for the others."""
