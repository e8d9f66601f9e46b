"""Online stores for the integration tests: SQLite in a temp dir, or the local Redis under
a key prefix of the test's own that is deleted afterwards."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis

from ailayer.features import OnlineStore, open_online_store

REDIS_URL = "redis://127.0.0.1:6379/0"


def delete_prefix(prefix: str) -> None:
    """Delete every key under ``prefix`` (each test writes under a prefix of its own)."""
    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    if keys:
        client.unlink(*keys)
    client.close()


@contextmanager
def scratch_online_store(kind: str, tmp_path: Path) -> Iterator[OnlineStore]:
    """A fresh ``sqlite`` or ``redis`` online store, closed (and its keys deleted) after."""
    if kind == "sqlite":
        store = open_online_store(f"sqlite:///{tmp_path / 'online.db'}")
        prefix = None
    else:
        prefix = f"ailayer-test-{uuid.uuid4().hex[:10]}:"
        store = open_online_store(f"{REDIS_URL}?prefix={prefix}")
    try:
        yield store
    finally:
        store.close()
        if prefix is not None:
            delete_prefix(prefix)
