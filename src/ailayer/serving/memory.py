"""How much memory a loaded model holds: what the model cache budgets by.

No single number is both cheap and exact, so a load is measured two ways and the larger
is kept (``LoadMeter.measure``):

- **the object graph** (``object_bytes``): every object reachable from the loaded model,
  by ``sys.getsizeof``, with NumPy arrays counted by the data they own and scikit-learn's
  ``Tree`` by its node and value arrays (which it keeps out of Python's sight). Classes,
  modules and functions are shared by every model and not counted. Deterministic, and blind
  to memory that native runtimes (LightGBM, onnxruntime) allocate outside Python;
- **the resident set** (``resident_bytes``, ``/proc/self/statm``): how much the process's
  RSS grew across the flavor's ``load``. It sees native allocations, but it is noisy: the
  allocator may place a model in pages freed earlier (an evicted model's), so the growth
  can be zero; pages are counted whole; and any other thread's allocations during the load
  mix in. So the growth is trusted only for a load that ran while no other load ran and
  that imported no module (a first load of a flavor imports its runtime package, which is the
  process's, not the model's); for the others, and where ``/proc`` is missing, the
  artifact's size stands in for it, on the grounds that a native runtime holds at least
  about what its file holds (ONNX weights, LightGBM trees).

Loads are never serialized to make the RSS reading clean: that would make one slow load
delay every other cold model. An overlapped load is measured less precisely instead.
"""

from __future__ import annotations

import gc
import itertools
import os
import sys
import threading
import types
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

T = TypeVar("T")
STATM = "/proc/self/statm"
SHARED = (type, types.ModuleType, types.FunctionType, types.BuiltinFunctionType, types.CodeType)
SKLEARN_TREE = ("sklearn.tree._tree", "Tree")


def resident_bytes() -> int | None:
    """The process's resident set size now, or None where ``/proc`` is not available."""
    try:
        with open(STATM, "rb") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def object_bytes(root: Any) -> int:
    """The memory of the object graph reachable from ``root`` (see the module docstring)."""
    seen: set[int] = set()
    stack = [root]
    total = 0
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, SHARED):
            continue
        seen.add(id(obj))
        total += sys.getsizeof(obj, 0)  # an array that owns its data includes it
        if isinstance(obj, np.ndarray):
            if obj.base is not None:
                stack.append(obj.base)
            if obj.dtype.hasobject:
                stack.extend(obj.ravel().tolist())
            continue
        if (type(obj).__module__, type(obj).__name__) == SKLEARN_TREE:
            total += _tree_bytes(obj)
        stack.extend(gc.get_referents(obj))
    return total


def _tree_bytes(tree: Any) -> int:
    """A fitted scikit-learn ``Tree``'s node and value arrays, for its whole capacity."""
    node_bytes = sys.modules[SKLEARN_TREE[0]].NODE_DTYPE.itemsize
    value = tree.value
    per_node = value.nbytes // max(1, value.shape[0])
    return int(tree.capacity) * (node_bytes + per_node)


@dataclass(frozen=True, slots=True)
class Measured:
    """What one load measured: the bytes budgeted, and the readings behind them."""

    nbytes: int
    graph_bytes: int
    rss_bytes: int | None  # the RSS growth, None when it could not be trusted


class LoadMeter:
    """Runs a load and measures what it holds; thread-safe, and never makes loads wait.

    ``rss=False`` measures the object graph and the artifact only: deterministic, for
    tests and for platforms where RSS readings mislead.
    """

    def __init__(self, rss: bool = True) -> None:
        self.rss = rss
        self._lock = threading.Lock()
        self._running: dict[int, bool] = {}  # load token → overlapped another load
        self._tokens = itertools.count()

    def measure(self, load: Callable[[], T], artifact_size: int) -> tuple[T, Measured]:
        """``load()`` and the memory of what it returned."""
        token = self._start()
        modules = len(sys.modules)
        before = resident_bytes() if self.rss else None
        try:
            model = load()
            after = resident_bytes() if before is not None else None
        finally:
            alone = self._finish(token)
        graph = object_bytes(model)
        clean = alone and len(sys.modules) == modules and before is not None
        growth = max(0, after - before) if clean and after is not None else None
        native = growth if growth is not None else artifact_size
        return model, Measured(max(graph, native), graph, growth)

    def _start(self) -> int:
        with self._lock:
            token = next(self._tokens)
            overlapped = bool(self._running)
            for other in self._running:
                self._running[other] = True
            self._running[token] = overlapped
            return token

    def _finish(self, token: int) -> bool:
        """True when no other load ran at any moment of this one."""
        with self._lock:
            return not self._running.pop(token)
