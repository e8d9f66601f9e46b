"""Online store backends, chosen by the scheme of the ``online_store`` URL.

Adding a backend is one module beside these and one entry in ``SCHEMES``.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from ailayer.core.errors import InvalidInput
from ailayer.features.stores.online import OnlineRow, OnlineStore, OnlineValue, entity_key


def _sqlite(url: str) -> OnlineStore:
    from ailayer.features.stores.sqlite import SqliteOnlineStore

    return SqliteOnlineStore.from_url(url)


def _redis(url: str) -> OnlineStore:
    from ailayer.features.stores.redis import RedisOnlineStore

    return RedisOnlineStore.from_url(url)


SCHEMES: dict[str, Callable[[str], OnlineStore]] = {
    "sqlite": _sqlite,
    "redis": _redis,
    "rediss": _redis,
}


def open_online_store(url: str) -> OnlineStore:
    """Build (without connecting) the store for ``sqlite:///path`` or ``redis://host/db``."""
    factory = SCHEMES.get(urlsplit(url).scheme)
    if factory is None:
        raise InvalidInput(
            f"online_store must be one of {', '.join(s + '://' for s in SCHEMES)}; got {url!r}",
            field="online_store",
        )
    return factory(url)


__all__ = ["OnlineRow", "OnlineStore", "OnlineValue", "entity_key", "open_online_store"]
