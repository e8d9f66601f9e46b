"""Where a model call runs: on the event loop, or in a worker thread.

A call in a worker thread pays a hop (the hand-off, and the GIL passed back and forth
with the event loop): measured here, more than a fast model's whole call on 1,000 rows
(the demo model compiled to ONNX: about 80 µs), and 1,000-row requests answered at 0.62x
the floor's rows/s through the thread against 0.75x inline. On the event loop, though,
a slow call stalls every other request. So ``CallCosts`` times calls per model and runs
one inline when the model's measured cost per row says it ends within ``budget``
seconds: small inputs (up to ``small_rows`` rows) always, as they always did; larger ones
once calls of that model have shown it is fast. A model's cost is the median of its last
``READINGS`` calls' costs per row: one slow reading (a garbage collection or a page fault
inside the call, common on a loaded server) changes nothing, two in a row of a model
turned slow send the next large call back to the thread. (A cost that rose at once on any
slow reading kept a fast model in the thread on a busy server, where each call paid the
hop: 1,000-row requests of the demo model at 0.63x the floor's rows/s, against 0.70x.)

A reading on the loop is its wall time, unless the thread was preempted during the call
(an involuntary context switch, Linux's ``RUSAGE_THREAD``): then the wall time is the
machine's (other processes had the core), not the model's, and the call's thread CPU
time is read instead. On a busy machine, that is what keeps one preempted call from
sending the next large ones to the thread, where each pays the hop.

Each call's thread CPU time (``time.thread_time``, the same on the loop and in a thread)
is also added to its model's tally, which cost accounting takes every minute
(``take_cpu``): a lock and an addition per call, never I/O.
"""

from __future__ import annotations

import resource
import statistics
import threading
import time
from collections import deque
from collections.abc import Callable
from weakref import WeakKeyDictionary

import numpy as np
from anyio import to_thread

from ailayer.models.flavors import LoadedModel, Predictions

SMALL_ROWS = 64
BUDGET_SECONDS = 0.001
READINGS = 5  # a model's cost per row: the median of its last calls' readings
_RUSAGE_THREAD = getattr(resource, "RUSAGE_THREAD", None)  # Linux


def preemptions() -> int:
    """This thread's involuntary context switches so far (0 where the system cannot say)."""
    if _RUSAGE_THREAD is None:
        return 0
    return resource.getrusage(_RUSAGE_THREAD).ru_nivcsw


class CallCosts:
    def __init__(
        self,
        budget_seconds: float = BUDGET_SECONDS,
        small_rows: int = SMALL_ROWS,
        switches: Callable[[], int] = preemptions,
    ):
        """``switches``: the calling thread's involuntary context switches so far."""
        self.budget = budget_seconds
        self.small_rows = small_rows
        self.switches = switches
        self._per_row: WeakKeyDictionary[LoadedModel, float] = WeakKeyDictionary()  # median
        self._readings: WeakKeyDictionary[LoadedModel, deque[float]] = WeakKeyDictionary()
        self._cpu: WeakKeyDictionary[LoadedModel, float] = WeakKeyDictionary()
        self._cpu_lock = threading.Lock()

    def inline(self, model: LoadedModel, rows: int) -> bool:
        """Whether ``rows`` rows for ``model`` may run on the event loop."""
        if rows <= self.small_rows:
            return True
        try:
            per_row = self._per_row.get(model)
        except TypeError:  # a model that cannot be weakly referenced is never timed
            return False
        return per_row is not None and per_row * rows <= self.budget

    async def call(self, model: LoadedModel, matrix: np.ndarray) -> Predictions:
        """``model.predict(matrix)``, inline or in a worker thread (see the module)."""
        if self.inline(model, len(matrix)):
            return self.timed(model, matrix, time.perf_counter)
        return await to_thread.run_sync(self.timed, model, matrix, time.thread_time)

    def timed(
        self, model: LoadedModel, matrix: np.ndarray, clock: Callable[[], float]
    ) -> Predictions:
        """``model.predict(matrix)``, noting its cost per row for inputs beyond small. On
        the loop the cost is the wall time the loop waited (its CPU time if the thread was
        preempted meanwhile); in a thread, the thread's CPU time, since its wall time also
        counts waits for the GIL that the loop holds."""
        large = len(matrix) > self.small_rows
        switches = self.switches() if large else 0
        started, cpu = clock(), time.thread_time()
        result = model.predict(matrix)
        ended, used = clock(), time.thread_time() - cpu
        self.spent(model, used)
        if large:
            preempted = clock is not time.thread_time and self.switches() != switches
            self.note(model, (used if preempted else ended - started) / len(matrix))
        return result

    def spent(self, model: LoadedModel, cpu_seconds: float) -> None:
        """Add one call's CPU seconds to ``model``'s tally."""
        with self._cpu_lock:
            try:
                before = self._cpu.get(model, 0.0)
                self._cpu[model] = before + cpu_seconds
            except TypeError:  # not weakly referenceable: its CPU goes uncounted
                pass

    def take_cpu(self) -> dict[LoadedModel, float]:
        """The CPU seconds per model since the last take, and start again from zero (a
        model evicted in between takes its tally with it)."""
        with self._cpu_lock:
            taken, self._cpu = dict(self._cpu), WeakKeyDictionary()
        return taken

    def note(self, model: LoadedModel, per_row: float) -> None:
        """One call's cost per row; the model's cost becomes the median of its last
        ``READINGS``."""
        try:
            readings = self._readings.get(model)
            if readings is None:
                readings = self._readings[model] = deque(maxlen=READINGS)
            readings.append(per_row)
            self._per_row[model] = statistics.median(readings)
        except TypeError:
            pass
