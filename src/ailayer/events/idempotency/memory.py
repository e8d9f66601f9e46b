"""``memory://``: processed ids in this process only, for tests and single-process runs."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

from ailayer.events.idempotency import DEFAULT_MAX_AGE, DEFAULT_MAX_ENTRIES


class MemoryIdempotencyStore:
    """Per group, an insertion-ordered map (tenant, id) → time, trimmed by count and age
    on ``mark``."""

    def __init__(
        self,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        max_age: float = DEFAULT_MAX_AGE,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.max_entries = max_entries
        self.max_age = max_age
        self.clock = clock
        self._groups: dict[str, OrderedDict[tuple[str, str], float]] = {}

    async def seen(self, tenant: str, group: str, event_id: str) -> bool:
        marked = self._groups.get(group, {}).get((tenant, event_id))
        return marked is not None and marked > self.clock() - self.max_age

    async def mark(self, tenant: str, group: str, event_id: str) -> None:
        ids = self._groups.setdefault(group, OrderedDict())
        key = (tenant, event_id)
        ids[key] = self.clock()
        ids.move_to_end(key)
        self._trim(ids)

    def _trim(self, ids: OrderedDict[tuple[str, str], float]) -> None:
        oldest = self.clock() - self.max_age
        while ids and (len(ids) > self.max_entries or next(iter(ids.values())) <= oldest):
            ids.popitem(last=False)

    async def close(self) -> None:
        self._groups.clear()
