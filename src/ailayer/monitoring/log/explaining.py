"""``?explain=true``: attributions for each prediction, against a sensible background.

The background (what "an ordinary input" means for linear and permutation explanations)
is, in order of preference:

1. ``log``: up to 100 recent logged inputs of the same model version (the traffic the
   model actually sees), when at least ``MIN_LOGGED`` are numeric and none of the
   model's inputs is PII (hashed values are not numbers);
2. ``zeros``: one all-zero row, so attributions read "compared with all inputs at 0".

LightGBM models use TreeSHAP and need no background. Backgrounds are cached per version
for ``ttl`` seconds. Everything here blocks: call it from a worker thread. The background
is read where the log is (an embedded server or a gateway); the attributions are computed
where the model runs (``ailayer.monitoring.explain.attributions``, through the model
runner: in a gateway, on a model worker).
"""

from __future__ import annotations

import threading
import time

import numpy as np
import orjson

from ailayer.monitoring.explain import MAX_BACKGROUND
from ailayer.monitoring.log.pii import PiiPolicy
from ailayer.monitoring.log.predictions import PredictionLog
from ailayer.serving.target import Target

MIN_LOGGED = 10
BACKGROUND_TTL = 60.0


class PredictionExplainer:
    def __init__(self, log: PredictionLog | None, ttl: float = BACKGROUND_TTL) -> None:
        self.log = log
        self.ttl = ttl
        self._cache: dict[tuple, tuple[float, np.ndarray, str]] = {}
        self._lock = threading.Lock()

    def background(self, tenant_id: str, target: Target) -> tuple[np.ndarray, str]:
        """The rows "an ordinary input" means for ``target``, and their source (``log`` or
        ``zeros``), cached for ``ttl`` seconds."""
        key = (tenant_id, *target.key)
        with self._lock:
            hit = self._cache.get(key)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1], hit[2]
        matrix, source = self._load(tenant_id, target)
        with self._lock:
            self._cache[key] = (time.monotonic() + self.ttl, matrix, source)
        return matrix, source

    def _load(self, tenant_id: str, target: Target) -> tuple[np.ndarray, str]:
        names = target.signature.names
        zeros = np.zeros((1, len(names)))
        policy = PiiPolicy.from_tags(target.version.tags)
        if self.log is None or policy.fields & set(names):
            return zeros, "zeros"
        logged = self.log.inputs(tenant_id, target.model, target.version.version, MAX_BACKGROUND)
        rows = [_numeric_row(orjson.loads(text), names) for text in logged]
        usable = [row for row in rows if row is not None]
        if len(usable) < MIN_LOGGED:
            return zeros, "zeros"
        return np.array(usable, dtype=float), "log"


def _numeric_row(record: dict, names: tuple[str, ...]) -> list[float] | None:
    values = [record.get(name) for name in names]
    if all(type(v) in (bool, int, float) for v in values):
        return [float(v) for v in values]  # type: ignore[arg-type]
    return None
