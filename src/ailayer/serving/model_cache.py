"""Loaded models, kept within a memory budget, so thousands of per-tenant models share a
process and no request loads a model that another already loaded.

- **Bounded by bytes.** Each load is measured (``serving.memory.LoadMeter``: the larger
  of the loaded object graph and the process's RSS growth across a lone load, see there
  for the limits) and the least recently used models are evicted while the total exceeds
  ``budget_bytes``. A model bigger than the whole budget still loads and serves, alone.
- **Transparent reload.** An evicted model is simply absent: the next request for it
  loads it again (its artifact's SHA-256 checked again by the artifact store).
- **A load never blocks another model.** The caller runs ``load`` in a worker thread;
  concurrent first requests for one version wait on that version's lock, never on a
  process-wide one, and ``get`` of a loaded model takes only a short guard that no load
  holds while loading.
- **Cold starts are counted** (``stats``): load seconds per tenant in histogram buckets,
  evictions, and the loaded models and their bytes, which ``/metrics`` exports.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from ailayer.core.process import freeze_new_imports
from ailayer.core.settings import DEFAULT_MODEL_CACHE_BYTES
from ailayer.models.flavors import LoadedModel, get_flavor
from ailayer.models.providers import CostLedger
from ailayer.models.service import ModelRegistry
from ailayer.models.version import ModelVersion
from ailayer.serving.memory import LoadMeter
from ailayer.serving.serving_context import bind_context

LOAD_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


@dataclass(slots=True)
class Entry:
    model: LoadedModel
    nbytes: int


@dataclass(slots=True)
class LoadTimes:
    """A histogram of load seconds: counts per ``LOAD_BUCKETS`` upper bound (+Inf last)."""

    counts: list[int] = field(default_factory=lambda: [0] * (len(LOAD_BUCKETS) + 1))
    total: float = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect.bisect_left(LOAD_BUCKETS, seconds)] += 1
        self.total += seconds


@dataclass(frozen=True, slots=True)
class TenantStats:
    """One tenant's share of the cache, as ``/metrics`` reads it."""

    loaded: int
    nbytes: int
    evictions: int
    load_counts: tuple[int, ...]  # per LOAD_BUCKETS bound, +Inf last (not cumulative)
    load_seconds: float


class KeyLocks:
    """One lock per key, dropped when nobody holds or awaits it (thousands of keys)."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[tuple, tuple[threading.Lock, int]] = {}

    @contextmanager
    def hold(self, key: tuple) -> Iterator[None]:
        with self._guard:
            lock, users = self._locks.get(key) or (threading.Lock(), 0)
            self._locks[key] = (lock, users + 1)
        try:
            with lock:
                yield
        finally:
            with self._guard:
                lock, users = self._locks[key]
                if users == 1:
                    del self._locks[key]
                else:
                    self._locks[key] = (lock, users - 1)


class ModelCache:
    def __init__(
        self,
        registry: ModelRegistry,
        budget_bytes: int = DEFAULT_MODEL_CACHE_BYTES,
        meter: LoadMeter | None = None,
    ) -> None:
        self.registry = registry
        self.budget_bytes = budget_bytes
        self.meter = meter or LoadMeter()
        self.nbytes = 0
        self._models: OrderedDict[tuple, Entry] = OrderedDict()  # least recently used first
        self._guard = threading.Lock()  # held for dictionary work only, never during a load
        self._keys = KeyLocks()
        self._loads: dict[str, LoadTimes] = {}
        self._evictions: dict[str, int] = {}
        self.costs = CostLedger()  # what provider models' calls cost

    def get(self, tenant_id: str, key: tuple) -> LoadedModel | None:
        """The loaded model, marked as just used; None if it is not loaded (now)."""
        cache_key = (tenant_id, *key)
        with self._guard:
            entry = self._models.get(cache_key)
            if entry is None:
                return None
            self._models.move_to_end(cache_key)
            return entry.model

    def load(self, tenant_id: str, key: tuple, version: ModelVersion) -> LoadedModel:
        """The model, loaded now unless another caller just did (blocking: call it in a
        worker thread)."""
        cache_key = (tenant_id, *key)
        with self._keys.hold(cache_key):
            model = self.get(tenant_id, key)
            if model is not None:
                return model
            started = time.perf_counter()
            flavor_name, data = self.registry.load_served(tenant_id, version)
            flavor = get_flavor(flavor_name)
            model, measured = self.meter.measure(lambda: flavor.load(data), len(data))
            bind_context(model, self, tenant_id, version)
            seconds = time.perf_counter() - started
            self._insert(cache_key, Entry(model, measured.nbytes), seconds)
            freeze_new_imports()  # the flavor's library, on its first load
            return model

    def nbytes_of(self, tenant_id: str, key: tuple) -> int | None:
        """The measured bytes of a loaded model; None if it is not loaded."""
        with self._guard:
            entry = self._models.get((tenant_id, *key))
            return None if entry is None else entry.nbytes

    def loaded(self) -> list[tuple[str, tuple, LoadedModel, int]]:
        """Every loaded model now: (tenant, key, model, measured bytes); read by cost
        accounting, which does not mark them used."""
        with self._guard:
            return [(k[0], k[1:], e.model, e.nbytes) for k, e in self._models.items()]

    def stats(self) -> dict[str, TenantStats]:
        """Per tenant: loaded models and bytes now, evictions and load times so far."""
        with self._guard:
            sizes: dict[str, list[int]] = {}
            for cache_key, entry in self._models.items():
                sizes.setdefault(cache_key[0], []).append(entry.nbytes)
            tenants = sizes.keys() | self._loads.keys() | self._evictions.keys()
            empty = LoadTimes()
            return {
                tenant: TenantStats(
                    loaded=len(sizes.get(tenant, ())),
                    nbytes=sum(sizes.get(tenant, ())),
                    evictions=self._evictions.get(tenant, 0),
                    load_counts=tuple(self._loads.get(tenant, empty).counts),
                    load_seconds=self._loads.get(tenant, empty).total,
                )
                for tenant in tenants
            }

    def _insert(self, cache_key: tuple, entry: Entry, seconds: float) -> None:
        """Keep the new model, then evict least recently used ones while over budget (the
        new one stays even when it alone is over)."""
        tenant = cache_key[0]
        with self._guard:
            self._loads.setdefault(tenant, LoadTimes()).observe(seconds)
            self._models[cache_key] = entry
            self.nbytes += entry.nbytes
            while self.nbytes > self.budget_bytes and len(self._models) > 1:
                evicted_key, evicted = self._models.popitem(last=False)
                self.nbytes -= evicted.nbytes
                self._evictions[evicted_key[0]] = self._evictions.get(evicted_key[0], 0) + 1
