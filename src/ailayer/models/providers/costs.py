"""What provider calls cost, per tenant, model and version, since the process started.

The ledger is a plain in-memory counter (Prometheus reads it at scrape, as it reads model
load times): an upstream call adds its declared ``cost_per_call`` plus its tokens times
the declared per-token prices; cache hits, failures and fallbacks are counted beside.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, fields


@dataclass(slots=True)
class Usage:
    """Counts for one (tenant, model, version); ``cost`` is in the config's own unit."""

    calls: int = 0
    failures: int = 0
    cache_hits: int = 0
    fallbacks: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0

    def add(self, other: Usage) -> None:
        for field in fields(self):
            setattr(self, field.name, getattr(self, field.name) + getattr(other, field.name))


class CostLedger:
    def __init__(self) -> None:
        self._usage: dict[tuple[str, str, int], Usage] = {}
        self._lock = threading.Lock()

    def add(self, tenant_id: str, model: str, version: int, usage: Usage) -> None:
        with self._lock:
            self._usage.setdefault((tenant_id, model, version), Usage()).add(usage)

    def snapshot(self) -> dict[tuple[str, str, int], Usage]:
        """A copy of every counter, keyed by (tenant, model, version)."""
        with self._lock:
            return {key: Usage(**_as_dict(usage)) for key, usage in self._usage.items()}

    def usage(self, tenant_id: str, model: str, version: int) -> Usage:
        with self._lock:
            return Usage(**_as_dict(self._usage.get((tenant_id, model, version), Usage())))


def _as_dict(usage: Usage) -> dict:
    return {field.name: getattr(usage, field.name) for field in fields(usage)}
