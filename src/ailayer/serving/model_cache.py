"""Loaded models, cached per version, so no request loads a model that another loaded.

Loading happens off the event loop (the caller runs ``load`` in a thread) and once per
version: concurrent first requests wait on one lock per version instead of loading twice.
The artifact's SHA-256 is checked on every load by the artifact store.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict

from ailayer.models.flavors import LoadedModel, get_flavor
from ailayer.models.providers import CostLedger
from ailayer.models.service import ModelRegistry
from ailayer.models.version import ModelVersion
from ailayer.serving.serving_context import bind_context

MAX_LOADED_MODELS = 64


class ModelCache:
    def __init__(self, registry: ModelRegistry, capacity: int = MAX_LOADED_MODELS) -> None:
        self.registry = registry
        self.capacity = capacity
        self._models: OrderedDict[tuple, LoadedModel] = OrderedDict()
        self._locks: dict[tuple, threading.Lock] = {}
        self._guard = threading.Lock()
        self.load_seconds: dict[tuple, float] = {}
        self.costs = CostLedger()  # what provider models' calls cost

    def get(self, tenant_id: str, key: tuple) -> LoadedModel | None:
        model = self._models.get((tenant_id, *key))
        return model

    def load(self, tenant_id: str, key: tuple, version: ModelVersion) -> LoadedModel:
        cache_key = (tenant_id, *key)
        with self._guard:
            lock = self._locks.setdefault(cache_key, threading.Lock())
        with lock:
            model = self._models.get(cache_key)
            if model is not None:
                return model
            started = time.perf_counter()
            data = self.registry.load_artifact(tenant_id, version)
            model = get_flavor(version.flavor).load(data)
            bind_context(model, self, tenant_id, version)
            self.load_seconds[cache_key] = time.perf_counter() - started
            with self._guard:
                self._models[cache_key] = model
                while len(self._models) > self.capacity:
                    self._models.popitem(last=False)
            return model
