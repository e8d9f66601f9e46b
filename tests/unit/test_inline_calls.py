"""Where a model call runs: small inputs and models measured fast on the event loop,
the rest (unmeasured, slow, or turned slow) in a worker thread."""

from __future__ import annotations

import asyncio
import threading
import time

import numpy as np

from ailayer.models.flavors import Predictions
from ailayer.serving.inline import CallCosts


class Model:
    """Answers one value per row; records the thread it ran in; ``seconds`` of CPU per
    call (a busy loop: a thread's cost is read as its CPU time)."""

    def __init__(self, seconds: float = 0.0) -> None:
        self.seconds = seconds
        self.threads: list[str] = []

    def predict(self, features: np.ndarray) -> Predictions:
        self.threads.append(threading.current_thread().name)
        end = time.thread_time() + self.seconds
        while self.seconds and time.thread_time() < end:
            pass
        return Predictions([0.0] * len(features))


def _where(costs: CallCosts, model: Model, rows: int) -> str:
    async def run() -> str:
        loop_thread = threading.current_thread().name
        answer = await costs.call(model, np.zeros((rows, 2)))
        assert len(answer.values) == rows
        return "loop" if model.threads[-1] == loop_thread else "thread"

    return asyncio.run(run())


def test_small_inputs_run_on_the_loop_and_large_ones_in_a_thread_until_measured_fast() -> None:
    costs = CallCosts(budget_seconds=0.001, small_rows=64)
    model = Model()
    assert _where(costs, model, 64) == "loop"
    assert _where(costs, model, 1000) == "thread"  # never measured: the safe side
    assert _where(costs, model, 1000) == "loop"  # measured well under 1 ms


def test_a_slow_model_stays_in_the_thread_and_one_turned_slow_goes_back() -> None:
    costs = CallCosts(budget_seconds=0.001, small_rows=64)
    slow = Model(seconds=0.01)
    for _ in range(3):
        assert _where(costs, slow, 1000) == "thread"

    turned = Model()
    _where(costs, turned, 1000)
    assert _where(costs, turned, 1000) == "loop"
    turned.seconds = 0.01  # the next calls on the loop show it: two slow readings in a row
    assert _where(costs, turned, 1000) == "loop"
    assert _where(costs, turned, 1000) == "loop"
    assert _where(costs, turned, 1000) == "thread"


def test_one_slow_call_of_a_fast_model_does_not_send_it_to_the_thread() -> None:
    """A garbage collection or a page fault inside one call is not the model's cost."""
    costs = CallCosts(budget_seconds=0.001, small_rows=64)
    model = Model()
    for _ in range(3):
        _where(costs, model, 1000)
    model.seconds = 0.01
    assert _where(costs, model, 1000) == "loop"  # the slow one
    model.seconds = 0.0
    for _ in range(5):
        assert _where(costs, model, 1000) == "loop"


def test_a_model_that_cannot_be_weakly_referenced_runs_large_inputs_in_a_thread() -> None:
    class Slotted:
        __slots__ = ("threads",)

        def __init__(self) -> None:
            self.threads: list[str] = []

        def predict(self, features: np.ndarray) -> Predictions:
            self.threads.append(threading.current_thread().name)
            return Predictions([0.0] * len(features))

    costs = CallCosts()
    model = Slotted()
    for _ in range(2):
        assert _where(costs, model, 1000) == "thread"  # type: ignore[arg-type]


class Waiting:
    """Takes ``seconds`` of wall time but no CPU (what a call preempted by another process
    looks like from the loop); ``switched`` counts as the thread's involuntary switches."""

    def __init__(self, seconds: float, preempted: bool) -> None:
        self.seconds, self.preempted = seconds, preempted
        self.switched = 0
        self.threads: list[str] = []

    def predict(self, features: np.ndarray) -> Predictions:
        self.threads.append(threading.current_thread().name)
        time.sleep(self.seconds)
        self.switched += self.preempted
        return Predictions([0.0] * len(features))


def test_a_call_preempted_on_the_loop_is_read_by_its_cpu_time_not_its_wall_time() -> None:
    for preempted, then in ((True, "loop"), (False, "thread")):
        model = Waiting(seconds=0.0, preempted=False)
        costs = CallCosts(budget_seconds=0.001, small_rows=64, switches=lambda m=model: m.switched)
        _where(costs, model, 1000)  # measured in the thread: fast
        assert _where(costs, model, 1000) == "loop"
        model.seconds, model.preempted = 0.01, preempted  # 10 ms of wall time on the loop
        assert _where(costs, model, 1000) == "loop"
        assert _where(costs, model, 1000) == "loop"
        # preempted: the 10 ms were the machine's, the model stays on the loop; not
        # preempted (a model that really waits): after two such calls, the next large
        # call goes to the thread
        assert _where(costs, model, 1000) == then
