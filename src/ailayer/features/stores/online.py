"""The online store port: the latest feature values per entity, for serving.

Contract every backend honours (``tests/integration/features/test_online_contract.py``
runs it against SQLite and the real Redis):

- values are keyed by (tenant, view, entity key); one tenant never reads another's;
- each stored row carries its event time; ``write_batch`` never replaces a newer row
  with an older one (an equal time replaces, so re-writing a batch is idempotent), and
  of a key given twice in one batch the newer row stays; ``write_batch_us`` is the same
  write with times as µs since the epoch (the stream runner's path: no datetime per row);
- ``read_batch`` answers for many entity keys in ONE round trip, in the order asked,
  ``None`` for a key with no row or whose row is older than ``ttl`` at ``now``;
  ``read_many`` answers several such reads (any tenants and views) as ``read_batch``
  would, one list per read, in one round trip where the backend can;
- ``delete_keys`` forgets exactly the rows of the keys given, and says how many it found;
- ``views`` names every view namespace (``name@version``) holding rows of a tenant — older
  versions and removed views too, whose rows stay until deleted — and ``scan`` yields
  every row of one, whatever its age: what a data subject request searches where it
  cannot look a key up (a composite key, a version whose features it does not know).
  Both read the whole tenant or view: for rare requests, never for serving;
- a backend that cannot be reached raises ``BackendUnavailable`` (503 with a retry hint)
  and works again, without a restart, once the service is back.

Encoding and the TTL rule live here, once; backends only move bytes.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import orjson

from ailayer.features.types import micros

TS_DIGITS = 20


@dataclass(frozen=True, slots=True)
class OnlineRow:
    """One entity's feature values at ``event_ts`` (an aware datetime)."""

    entity_key: str
    event_ts: datetime
    values: dict[str, Any]


# (entity key, event time in µs since the epoch, values): ``write_batch_us``'s rows
UsRow = tuple[str, int, dict[str, Any]]


@dataclass(frozen=True, slots=True)
class OnlineValue:
    """What a read finds: the row's event time in µs since the epoch, and its values."""

    event_us: int
    values: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Read:
    """The arguments of one ``read_batch``, for ``read_many``."""

    tenant_id: str
    view: str
    entity_keys: Sequence[str]
    features: Sequence[str]
    ttl: timedelta | None = None
    now: datetime | None = None


class OnlineStore(Protocol):
    def write_batch(
        self, tenant_id: str, view: str, rows: Sequence[OnlineRow], ttl: timedelta | None = None
    ) -> None:
        """Store rows, newer-wins per key. ``ttl`` lets a backend forget expired rows."""

    def write_batch_us(
        self, tenant_id: str, view: str, rows: Sequence[UsRow], ttl: timedelta | None = None
    ) -> None:
        """``write_batch`` with event times as µs since the epoch (see ``UsRow``)."""

    def read_batch(
        self,
        tenant_id: str,
        view: str,
        entity_keys: Sequence[str],
        features: Sequence[str],
        ttl: timedelta | None = None,
        now: datetime | None = None,
    ) -> list[OnlineValue | None]:
        """One answer per key, in order; only ``features`` are kept in ``values``."""

    def read_many(self, reads: Sequence[Read]) -> list[list[OnlineValue | None]]:
        """``read_batch`` of each read, in order (one round trip where the backend can)."""

    def delete_view(self, tenant_id: str, view: str) -> None:
        """Forget every row of one view of one tenant."""

    def delete_keys(self, tenant_id: str, view: str, entity_keys: Sequence[str]) -> int:
        """Forget the rows of these entity keys (a data subject's); how many there were."""

    def views(self, tenant_id: str) -> list[str]:
        """Every view namespace holding rows of the tenant, sorted."""

    def scan(self, tenant_id: str, view: str) -> Iterator[tuple[str, OnlineValue]]:
        """Every row of one view namespace: (entity key, its value with every feature)."""

    def close(self) -> None: ...


def entity_key(values: Sequence[Any]) -> str:
    """The canonical text of a join-key tuple, e.g. ``[42]`` or ``["acme",7]``."""
    return orjson.dumps(list(values)).decode()


def us_rows(rows: Sequence[OnlineRow]) -> list[UsRow]:
    """``write_batch``'s rows as ``write_batch_us`` takes them."""
    return [(r.entity_key, micros(r.event_ts), r.values) for r in rows]


def encode(event_us: int, values: dict[str, Any]) -> bytes:
    """Event time as 20 zero-padded digits, then JSON: comparable as text, in Lua too."""
    return b"%0*d" % (TS_DIGITS, event_us) + orjson.dumps(values)


def decode(data: bytes) -> tuple[int, dict[str, Any]]:
    return int(data[:TS_DIGITS]), orjson.loads(data[TS_DIGITS:])


def now_us(now: datetime | None) -> int:
    return micros(now or datetime.now(UTC))


def fresh(event_us: int, ttl: timedelta | None, at_us: int) -> bool:
    """A value is served while its age is at most the TTL (the same rule as training)."""
    return ttl is None or at_us - event_us <= ttl // timedelta(microseconds=1)


def select_values(event_us: int, values: dict[str, Any], features: Sequence[str]) -> OnlineValue:
    return OnlineValue(event_us, {f: values[f] for f in features if f in values})
