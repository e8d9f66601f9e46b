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
    Read,
    UsRow,
    decode,
    encode,
    fresh,
    now_us,
    select_values,
    us_rows,
)
from ailayer.features.types import micros

DEFAULT_PREFIX = "ailayer:fs:"
TIMEOUT_SECONDS = 2.0
SCRIPT_KEYS_PER_CALL = 5_000

# KEYS: one per row; ARGV: now (ms), the TTL in µs (-1: none), then one encoded value per
# key. One MGET reads the current rows and one MSET per 2,000 rows writes the winners
# (a SET with PXAT each when there is a TTL: event time + TTL in ms, rounded down, + 1,
# after which no read would serve the row): two Redis calls from Lua per batch instead
# of a GET and a SET per row, which cost Redis about three times the CPU. ``latest``
# holds the stamp each key will have, so a key twice in one batch keeps the newer row.
NEWER_WINS = f"""
local now, ttl_us = tonumber(ARGV[1]), tonumber(ARGV[2])
local current = redis.call('MGET', unpack(KEYS))
local latest, plain, written = {{}}, {{}}, 0
for i, key in ipairs(KEYS) do
  local value = ARGV[i + 2]
  local stamp = string.sub(value, 1, {TS_DIGITS})
  local seen = latest[key]
  if seen == nil then
    seen = current[i] and string.sub(current[i], 1, {TS_DIGITS}) or ''
  end
  if seen <= stamp then
    if ttl_us < 0 then
      latest[key] = stamp
      plain[#plain + 1] = key
      plain[#plain + 1] = value
      written = written + 1
    else
      local expire_at = math.floor((tonumber(stamp) + ttl_us) / 1000) + 1
      if expire_at > now then
        latest[key] = stamp
        redis.call('SET', key, value, 'PXAT', expire_at)
        written = written + 1
      end
    end
  end
end
for i = 1, #plain, 4000 do
  redis.call('MSET', unpack(plain, i, math.min(i + 3999, #plain)))
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
                "online_store (Redis) is unavailable; retry shortly, or check its URL"
            ) from exc

    def write_batch(
        self, tenant_id: str, view: str, rows: Sequence[OnlineRow], ttl: timedelta | None = None
    ) -> None:
        self.write_batch_us(tenant_id, view, us_rows(rows), ttl)

    def write_batch_us(
        self, tenant_id: str, view: str, rows: Sequence[UsRow], ttl: timedelta | None = None
    ) -> None:
        now_ms = micros(datetime.now(UTC)) // 1000
        ttl_us = -1 if ttl is None else ttl // timedelta(microseconds=1)
        prefix = self._key(tenant_id, view, "")
        for start in range(0, len(rows), SCRIPT_KEYS_PER_CALL):
            chunk = rows[start : start + SCRIPT_KEYS_PER_CALL]
            keys = [prefix + key for key, _, _ in chunk]
            args: list[bytes | int] = [now_ms, ttl_us]
            args += [encode(event_us, values) for _, event_us, values in chunk]
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
        return self.read_many([Read(tenant_id, view, entity_keys, features, ttl, now)])[0]

    def read_many(self, reads: Sequence[Read]) -> list[list[OnlineValue | None]]:
        """Every key of every read in one ``MGET``."""
        keys = [self._key(r.tenant_id, r.view, k) for r in reads for k in r.entity_keys]
        if not keys:
            return [[] for _ in reads]
        with self._translated():
            raw = self.client.mget(keys)
        answers: list[list[OnlineValue | None]] = []
        start = 0
        for read in reads:
            at = now_us(read.now)
            found: list[OnlineValue | None] = []
            for data in raw[start : start + len(read.entity_keys)]:
                if data is None:
                    found.append(None)
                    continue
                event_us, values = decode(data)
                fresh_value = fresh(event_us, read.ttl, at)
                found.append(
                    select_values(event_us, values, read.features) if fresh_value else None
                )
            answers.append(found)
            start += len(read.entity_keys)
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

    def delete_keys(self, tenant_id: str, view: str, entity_keys: Sequence[str]) -> int:
        if not entity_keys:
            return 0
        with self._translated():
            return int(self.client.delete(*[self._key(tenant_id, view, k) for k in entity_keys]))

    def views(self, tenant_id: str) -> list[str]:
        """From the names of the tenant's keys (a ``SCAN`` of them all)."""
        start = len(self._key(tenant_id, "", "")) - 1  # the key after ``<prefix><tenant>:``
        found = set()
        with self._translated():
            for key in self.client.scan_iter(match=self._key(tenant_id, "*", "*"), count=1000):
                view, sep, _ = key.decode()[start:].partition(":")
                if sep:
                    found.add(view)
        return sorted(found)

    def scan(self, tenant_id: str, view: str) -> Iterator[tuple[str, OnlineValue]]:
        prefix = self._key(tenant_id, view, "")
        with self._translated():
            keys = sorted(self.client.scan_iter(match=f"{prefix}*", count=1000))
            for start in range(0, len(keys), 1000):
                chunk = keys[start : start + 1000]
                for key, data in zip(chunk, self.client.mget(chunk), strict=True):
                    if data is not None:  # expired meanwhile
                        event_us, values = decode(data)
                        yield key.decode().removeprefix(prefix), OnlineValue(event_us, values)

    def close(self) -> None:
        self.client.close()
