"""Redis online store (``redis://host:port/db?prefix=…``).

One string per (tenant, view, entity): 20 digits of event time, then the JSON values.
A batch write is one Lua script call (atomic per key, newer-wins by comparing the time
digits, ``PXAT`` so Redis forgets rows once their TTL has passed); a batch read is one
``MGET``. Connection failures become ``BackendUnavailable``; the pool reconnects on the
next call, so the process recovers by itself when Redis is back.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from ailayer.core.errors import BackendUnavailable
from ailayer.features.stores.online import (
    TS_DIGITS,
    OnlineRow,
    OnlineValue,
    decode,
    encode,
    expire_at_ms,
    fresh,
    now_us,
    select_values,
)
from ailayer.features.types import micros

DEFAULT_PREFIX = "ailayer:fs:"
TIMEOUT_SECONDS = 2.0
SCRIPT_KEYS_PER_CALL = 5_000

NEWER_WINS = f"""
local written = 0
local now = tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  local value = ARGV[2 * i]
  local expire_at = tonumber(ARGV[2 * i + 1])
  if expire_at == 0 or expire_at > now then
    local current = redis.call('GET', key)
    if (not current) or string.sub(current, 1, {TS_DIGITS}) <= string.sub(value, 1, {TS_DIGITS}) then
      if expire_at == 0 then
        redis.call('SET', key, value)
      else
        redis.call('SET', key, value, 'PXAT', expire_at)
      end
      written = written + 1
    end
  end
end
return written
"""


class RedisOnlineStore:
    def __init__(self, client: redis.Redis, prefix: str = DEFAULT_PREFIX) -> None:
        self.client = client
        self.prefix = prefix
        self._script = client.register_script(NEWER_WINS)

    @classmethod
    def from_url(cls, url: str) -> RedisOnlineStore:
        parts = urlsplit(url)
        query = parse_qs(parts.query)
        prefix = query.pop("prefix", [DEFAULT_PREFIX])[0]
        plain = urlunsplit(parts._replace(query=urlencode(query, doseq=True)))
        client = redis.Redis.from_url(
            plain,
            socket_timeout=TIMEOUT_SECONDS,
            socket_connect_timeout=TIMEOUT_SECONDS,
            retry=Retry(ExponentialBackoff(cap=0.2, base=0.02), 1),
            health_check_interval=10,
        )
        return cls(client, prefix)

    def _key(self, tenant_id: str, view: str, entity_key: str) -> str:
        return f"{self.prefix}{tenant_id}:{view}:{entity_key}"

    @contextmanager
    def _translated(self) -> Iterator[None]:
        try:
            yield
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise BackendUnavailable(
                "the online store (Redis) is unavailable; retry shortly"
            ) from exc

    def write_batch(
        self, tenant_id: str, view: str, rows: Sequence[OnlineRow], ttl: timedelta | None = None
    ) -> None:
        now_ms = micros(datetime.now(UTC)) // 1000
        for start in range(0, len(rows), SCRIPT_KEYS_PER_CALL):
            chunk = rows[start : start + SCRIPT_KEYS_PER_CALL]
            keys = [self._key(tenant_id, view, r.entity_key) for r in chunk]
            args: list[bytes | int] = [now_ms]
            for row in chunk:
                args += [encode(row), expire_at_ms(row, ttl)]
            with self._translated():
                self._script(keys=keys, args=args)

    def read_batch(
        self,
        tenant_id: str,
        view: str,
        entity_keys: Sequence[str],
        features: Sequence[str],
        ttl: timedelta | None = None,
        now: datetime | None = None,
    ) -> list[OnlineValue | None]:
        if not entity_keys:
            return []
        with self._translated():
            raw = self.client.mget([self._key(tenant_id, view, k) for k in entity_keys])
        at = now_us(now)
        answers: list[OnlineValue | None] = []
        for data in raw:
            if data is None:
                answers.append(None)
                continue
            event_us, values = decode(data)
            answers.append(
                select_values(event_us, values, features) if fresh(event_us, ttl, at) else None
            )
        return answers

    def delete_view(self, tenant_id: str, view: str) -> None:
        with self._translated():
            batch: list[bytes] = []
            for key in self.client.scan_iter(match=self._key(tenant_id, view, "*"), count=1000):
                batch.append(key)
                if len(batch) >= 1000:
                    self.client.unlink(*batch)
                    batch.clear()
            if batch:
                self.client.unlink(*batch)

    def close(self) -> None:
        self.client.close()
