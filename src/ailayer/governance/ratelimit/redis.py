"""Token buckets in Redis, shared by every replica: one Lua script a request, atomic.

The script reads Redis's own clock (``TIME``), so replicas' clocks do not matter; each
bucket is a hash ``{tokens, at}`` that expires once it would be full again. Keys carry
the tenant in a hash tag (``{tenant}``), so a tenant's buckets share a cluster slot.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import redis.asyncio as aioredis

from ailayer.governance.ratelimit.base import Bucket

PREFIX = "ailayer:rate:"
TIMEOUT_SECONDS = 0.25  # a slow Redis must not hold requests: the limiter falls back

TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local tokens, waits, short = {}, {}, false
for i = 1, #KEYS do
  local rate, burst = tonumber(ARGV[2 * i - 1]), tonumber(ARGV[2 * i])
  local state = redis.call('HMGET', KEYS[i], 'tokens', 'at')
  local have, at = tonumber(state[1]), tonumber(state[2])
  if have == nil or at == nil then have, at = burst, now end
  have = math.min(burst, have + math.max(0, now - at) * rate)
  tokens[i] = have
  if have < 1 then
    waits[i] = (1 - have) / rate
    short = true
  else
    waits[i] = 0
  end
end
for i = 1, #KEYS do
  local rate, burst = tonumber(ARGV[2 * i - 1]), tonumber(ARGV[2 * i])
  local have = tokens[i]
  if not short then have = have - 1 end
  redis.call('HSET', KEYS[i], 'tokens', string.format('%.6f', have),
             'at', string.format('%.6f', now))
  redis.call('PEXPIRE', KEYS[i], math.ceil(burst / rate * 1000) + 1000)
  waits[i] = string.format('%.6f', waits[i])
end
return waits
"""


class RedisBuckets:
    """Buckets at ``url``; the client is made on the event loop that first uses it."""

    def __init__(self, url: str, prefix: str = PREFIX) -> None:
        self.url = url
        self.prefix = prefix
        self._client: aioredis.Redis | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._script = None

    async def take(self, buckets: Sequence[Bucket]) -> list[float]:
        script = self._script_on_this_loop()
        keys = [self.prefix + bucket.key for bucket in buckets]
        args: list[float] = []
        for bucket in buckets:
            args += [bucket.rate, bucket.burst]
        waits = await script(keys=keys, args=args)
        return [float(wait) for wait in waits]

    def _script_on_this_loop(self):  # type: ignore[no-untyped-def]
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            self._client = aioredis.Redis.from_url(
                self.url,
                socket_timeout=TIMEOUT_SECONDS,
                socket_connect_timeout=TIMEOUT_SECONDS,
            )
            self._loop = loop
            self._script = self._client.register_script(TAKE)
        return self._script

    async def aclose(self) -> None:
        if self._client is not None and self._loop is asyncio.get_running_loop():
            await self._client.aclose()
        self._client = self._script = self._loop = None
