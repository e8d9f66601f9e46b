"""Which events a consumer group has already applied: the ``IdempotencyStore`` port.

Delivery is at least once, so a group sees some events twice (a consumer died after its
handler returned but before its ack; a lease ran out). The runner asks ``seen`` before
calling a handler and calls ``mark`` after it returned, so a redelivered id is acked
without running the handler again. Contract every backend honours:

- ``seen(tenant, group, event_id)`` is true once ``mark(tenant, group, event_id)``
  returned, for as long as the id is retained; groups are independent, and so are
  tenants: producers choose ids, so two tenants' events may share one, and neither may
  count as the other's duplicate.
- ``mark`` is idempotent (marking twice is a no-op).
- Retention is bounded: each backend keeps at most ``max_entries`` ids per group (the
  oldest go first) and forgets ids older than ``max_age`` seconds. An event redelivered
  after its id was forgotten runs again, so keep ``max_age`` above the longest
  redelivery window (ack_wait + the retry schedule + how long dead letters wait for replay).
- A lost backend raises ``BackendUnavailable``; the runner retries, it never skips.

The SQLite and Redis backends also offer ``apply(group, event, write)``, which runs the
handler's ``write`` and records the id (under ``event.tenant``) in one transaction
(SQLite) or one MULTI/EXEC (Redis): the effect on that store then happens exactly once,
even across ``kill -9``.

Backends by URL: ``memory://`` (one process), ``sqlite:///path.db``, ``redis://host/db``;
options ``?max_entries=N&max_age=SECONDS``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol
from urllib.parse import urlsplit

from ailayer.core.errors import InvalidInput
from ailayer.events.brokers._url import split_options

DEFAULT_MAX_ENTRIES = 1_000_000
DEFAULT_MAX_AGE = 7 * 24 * 3600.0
OPTIONS: dict[str, type] = {"max_entries": int, "max_age": float}


class IdempotencyStore(Protocol):
    """Processed event ids per tenant and group, with bounded retention (see the module
    docstring)."""

    async def seen(self, tenant: str, group: str, event_id: str) -> bool: ...

    async def mark(self, tenant: str, group: str, event_id: str) -> None: ...

    async def close(self) -> None: ...


def _memory(url: str) -> IdempotencyStore:
    from ailayer.events.idempotency.memory import MemoryIdempotencyStore

    _, options = split_options(url, OPTIONS)
    return MemoryIdempotencyStore(**options)  # type: ignore[arg-type]


def _sqlite(url: str) -> IdempotencyStore:
    from ailayer.events.idempotency.sqlite import SqliteIdempotencyStore

    return SqliteIdempotencyStore.from_url(url)


def _redis(url: str) -> IdempotencyStore:
    from ailayer.events.idempotency.redis import RedisIdempotencyStore

    return RedisIdempotencyStore.from_url(url)


STORES: dict[str, Callable[[str], IdempotencyStore]] = {
    "memory": _memory,
    "sqlite": _sqlite,
    "redis": _redis,
}


def open_idempotency_store(url: str) -> IdempotencyStore:
    """The store for ``url``; no I/O until first used."""
    factory = STORES.get(urlsplit(url).scheme)
    if factory is None:
        known = ", ".join(f"{name}://" for name in STORES)
        raise InvalidInput(f"idempotency store must be one of {known}; got {url!r}", field="url")
    return factory(url)


__all__ = [
    "DEFAULT_MAX_AGE",
    "DEFAULT_MAX_ENTRIES",
    "IdempotencyStore",
    "open_idempotency_store",
]
