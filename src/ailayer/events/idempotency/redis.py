"""``redis://host:port/db``: processed ids in Redis, shared by every consumer of a group.

Per group: one marker key per (tenant, id), ``ailayer:processed:{group}:<tenant>:<id>``
(the tenant percent-encoded, ``scope.scoped``), that expires after ``max_age`` (the age
bound), and an index ``ailayer:processed:{group}`` (a sorted set of ``<tenant>:<id>`` by
mark time) that a small Lua script trims to ``max_entries`` every ``trim_every`` marks,
deleting the markers it drops (the count bound). ``apply`` queues a handler's writes and
the marker in one ``WATCH``/``MULTI``/``EXEC``: the effect commits exactly once, and two
consumers racing on one id cannot both apply it.

Keys of the layout from before ids were kept per tenant (``ailayer:idem:{group}…``) are
never read: they cannot say whose event an id was. Their markers expire on their own; an
old index can be deleted (``DEL ailayer:idem:{group}``).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Callable

import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.exceptions import WatchError

from ailayer.core.errors import BackendUnavailable
from ailayer.core.settings import redacted
from ailayer.events.brokers._url import split_options
from ailayer.events.envelope import Event
from ailayer.events.idempotency import DEFAULT_MAX_AGE, DEFAULT_MAX_ENTRIES, OPTIONS
from ailayer.events.scope import scoped

TRIM_EVERY = 1000
TRIM = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
local over = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[1])
if over > 0 then
  local old = redis.call('ZRANGE', KEYS[1], 0, over - 1)
  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, over - 1)
  for _, id in ipairs(old) do redis.call('DEL', ARGV[3] .. id) end
end
return over
"""

Write = Callable[[Pipeline, Event], None]


def index_key(group: str) -> str:
    return f"ailayer:processed:{{{group}}}"


def marker_key(tenant: str, group: str, event_id: str) -> str:
    return f"{index_key(group)}:{scoped(tenant, event_id)}"


class RedisIdempotencyStore:
    """See the module docstring; connects on first use."""

    def __init__(
        self,
        url: str,
        *,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        max_age: float = DEFAULT_MAX_AGE,
        trim_every: int = TRIM_EVERY,
    ) -> None:
        self.url = url
        self.max_entries, self.max_age, self.trim_every = max_entries, max_age, trim_every
        self.redis = aioredis.Redis.from_url(url, health_check_interval=30)
        self._trim_script = self.redis.register_script(TRIM)
        self._marks = 0

    @classmethod
    def from_url(cls, url: str) -> RedisIdempotencyStore:
        url, options = split_options(url, OPTIONS)
        return cls(url, **options)  # type: ignore[arg-type]

    @contextlib.asynccontextmanager
    async def _answers(self) -> AsyncIterator[None]:
        try:
            yield
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            raise BackendUnavailable(
                f"Redis at {redacted(self.url)} is unavailable: {exc}"
            ) from exc

    async def seen(self, tenant: str, group: str, event_id: str) -> bool:
        async with self._answers():
            return bool(await self.redis.exists(marker_key(tenant, group, event_id)))

    async def mark(self, tenant: str, group: str, event_id: str) -> None:
        async with self._answers(), self.redis.pipeline(transaction=True) as pipe:
            self._queue_mark(pipe, tenant, group, event_id)
            await pipe.execute()
        await self._maybe_trim(group)

    async def apply(self, group: str, event: Event, write: Write) -> bool:
        """Queue ``write(pipe, event)`` and the marker (of ``event.tenant``) in one
        MULTI/EXEC, unless seen.

        ``write`` only queues commands on ``pipe`` (it cannot read their results); it may
        be called again if another consumer touched the id meanwhile. Returns False,
        without executing ``write``'s commands, when the id was already recorded.
        """
        tenant = event.tenant or ""
        marker = marker_key(tenant, group, event.id)
        async with self._answers(), self.redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(marker)
                    if await pipe.exists(marker):
                        return False
                    pipe.multi()
                    write(pipe, event)
                    self._queue_mark(pipe, tenant, group, event.id)
                    await pipe.execute()
                    break
                except WatchError:
                    continue
        await self._maybe_trim(group)
        return True

    def _queue_mark(self, pipe: Pipeline, tenant: str, group: str, event_id: str) -> None:
        now = time.time()
        pipe.set(marker_key(tenant, group, event_id), 1, ex=max(1, int(self.max_age)))
        pipe.zadd(index_key(group), {scoped(tenant, event_id): now})

    async def _maybe_trim(self, group: str) -> None:
        self._marks += 1
        if self._marks % self.trim_every == 0:
            await self.trim(group)

    async def trim(self, group: str) -> int:
        """Apply the count and age bounds to ``group`` now; returns how many ids went."""
        oldest = time.time() - self.max_age
        prefix = index_key(group) + ":"
        async with self._answers():
            over = await self._trim_script(
                keys=[index_key(group)], args=[self.max_entries, oldest, prefix]
            )
        return max(0, int(over))

    async def forget(self, group: str) -> None:
        """Delete every id of ``group`` (for operators and tests)."""
        async with self._answers():
            members = await self.redis.zrange(index_key(group), 0, -1)
            keys = [f"{index_key(group)}:{member.decode()}" for member in members]
            await self.redis.delete(index_key(group), *keys)

    async def close(self) -> None:
        await self.redis.aclose()
