"""The rollout controller over a compare-and-set store: steps, promotes and rolls back by
itself, stores each reason, and with two replicas moves each revision exactly once."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from ailayer.core.errors import BackendUnavailable
from ailayer.rollout.controller import ACTOR, ControllerThread, RolloutController
from ailayer.rollout.metrics import ControllerCollector
from ailayer.rollout.policy import CanaryPlan, Policy, Variant
from ailayer.rollout.verdict import VariantStats
from tests.support.policy_store import MemoryPolicyStore

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
PLAN = CanaryPlan(steps=(5, 25, 50, 100), step_seconds=60, min_requests=100)
HEALTHY = VariantStats(requests=1000, errors=2, p99_ms=20.0)
GOOD_CANARY = VariantStats(requests=150, errors=0, p99_ms=21.0)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class ScriptedStats:
    """A ``VariantStatsSource`` answering what the test says the variants did, and
    recording each window it was asked about."""

    def __init__(self, stable: VariantStats = HEALTHY, canary: VariantStats = GOOD_CANARY) -> None:
        self.stable, self.canary = stable, canary
        self.asked: list[tuple[str, str, list[str], datetime, datetime]] = []
        self.failing: set[str] = set()

    def variant_stats(
        self,
        tenant_id: str,
        endpoint: str,
        variants: Sequence[Variant],
        start: datetime,
        end: datetime,
    ) -> dict[str, VariantStats]:
        self.asked.append((tenant_id, endpoint, [v.name for v in variants], start, end))
        if tenant_id in self.failing:
            raise BackendUnavailable("the log is not reachable")
        return {"stable": self.stable, "canary": self.canary}


def canary(endpoint: str = "fraud") -> Policy:
    return Policy(
        endpoint=endpoint,
        kind="canary",
        variants=(Variant("stable", "fraud", 1, 95), Variant("canary", "fraud", 2, 5)),
        canary=PLAN,
    )


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(clock: Clock) -> MemoryPolicyStore:
    return MemoryPolicyStore(clock)


def test_steps_step_then_promotes_judging_each_step_since_it_began(store, clock) -> None:  # type: ignore[no-untyped-def]
    first = store.deploy("acme", canary())
    stats = ScriptedStats()
    controller = RolloutController(store, stats, clock=clock)

    assert controller.run_once()[0].decision.action == "hold"  # the step just began
    shares = []
    for _ in range(3):
        clock.advance(61)
        (outcome,) = controller.run_once()
        shares.append(outcome.stored.variant("stable").share)
        if outcome.stored.state == "active":  # a new step, a new clock
            assert controller.run_once()[0].decision.action == "hold"

    assert shares == [75, 50, 100]
    revisions = [s.policy for s in store.history[1:]]
    assert [p.revision for p in revisions] == [2, 3, 4]
    assert [p.reason.split(":")[0] for p in revisions] == [
        "step to 25%",
        "step to 50%",
        "promote to 100%",
    ]
    assert all(
        s.actor == ACTOR and s.expected_revision == s.policy.revision - 1 for s in store.history[1:]
    )
    promoted = store.active("acme", "fraud")
    assert (promoted.kind, promoted.state) == ("single", "promoted")
    assert [(v.name, v.version, v.share) for v in promoted.variants] == [("stable", 2, 100)]
    windows = [(start, end) for *_, start, end in stats.asked]
    assert windows[0] == (first.changed_at, T0)
    assert windows[1] == (first.changed_at, T0 + timedelta(seconds=61))
    assert windows[2] == (T0 + timedelta(seconds=61),) * 2  # since revision 2 was stored
    assert controller.run_once() == []  # promoted: nothing left to judge
    counts = controller.counts
    assert (counts.steps, counts.promotions, counts.rollbacks, counts.holds) == (2, 1, 0, 3)


def test_a_breach_rolls_back_at_once_with_the_reason_stored_and_logged(  # type: ignore[no-untyped-def]
    store, clock, caplog
) -> None:
    store.deploy("acme", canary())
    failing = VariantStats(requests=100, errors=12, p99_ms=20.0)
    stats = ScriptedStats(stable=VariantStats(requests=1000, errors=2, p99_ms=20.0), canary=failing)
    controller = RolloutController(store, stats, clock=clock)
    clock.advance(2)  # long before step_seconds

    with caplog.at_level(logging.INFO, logger="ailayer.rollout"):
        (outcome,) = controller.run_once()

    reason = "canary error rate 0.120 exceeds stable 0.002 + 0.010 (12 of 100 requests failed)"
    rolled = store.active("acme", "fraud")
    assert (rolled.state, rolled.reason, rolled.revision) == ("rolled_back", reason, 2)
    assert [(v.name, v.share) for v in rolled.variants] == [("stable", 100), ("canary", 0)]
    assert outcome.stored == rolled
    assert controller.counts.rollbacks == 1
    (record,) = [r for r in caplog.records if "rollback" in r.getMessage()]
    assert record.levelno == logging.WARNING
    assert record.getMessage() == f"rollout acme/fraud: rollback, revision 2 ({reason})"
    assert controller.run_once() == []


def test_a_change_by_someone_else_meanwhile_is_a_quiet_conflict(store, clock) -> None:  # type: ignore[no-untyped-def]
    store.deploy("acme", canary())
    clock.advance(61)

    class MovesFirst(ScriptedStats):
        def variant_stats(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            current = store.active("acme", "fraud")
            store.transition("acme", "alice", current.revision, current.rolled_back("by hand"))
            return super().variant_stats(*args, **kwargs)

    controller = RolloutController(store, MovesFirst(), clock=clock)
    (outcome,) = controller.run_once()

    assert outcome.conflict and outcome.stored is None
    assert controller.counts.conflicts == 1 and controller.counts.steps == 0
    assert store.active("acme", "fraud").reason == "by hand"
    assert [s.actor for s in store.history] == ["someone", "alice"]


def test_two_controllers_racing_move_each_revision_exactly_once(store, clock) -> None:  # type: ignore[no-untyped-def]
    store.deploy("acme", canary())
    both_read = threading.Barrier(2, timeout=10)

    class InStep(ScriptedStats):
        """Both replicas judge the same revision before either stores anything."""

        def variant_stats(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            both_read.wait()
            return super().variant_stats(*args, **kwargs)

    replicas = [RolloutController(store, InStep(), clock=clock) for _ in range(2)]
    for _ in range(3):  # 5% → 25% → 50% → promoted
        clock.advance(61)
        threads = [threading.Thread(target=r.run_once) for r in replicas]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)

    moves = store.history[1:]
    assert [s.expected_revision for s in moves] == [1, 2, 3]
    assert store.active("acme", "fraud").state == "promoted"
    won = sum(r.counts.steps + r.counts.promotions for r in replicas)
    lost = sum(r.counts.conflicts for r in replicas)
    assert (won, lost) == (3, 3)


def test_one_failing_canary_does_not_stop_the_others(store, clock) -> None:  # type: ignore[no-untyped-def]
    store.deploy("acme", canary())
    store.deploy("globex", canary())
    stats = ScriptedStats()
    stats.failing.add("acme")
    controller = RolloutController(store, stats, clock=clock)
    clock.advance(61)

    outcomes = {o.tenant_id: o for o in controller.run_once()}

    assert outcomes["acme"].error == "BackendUnavailable: the log is not reachable"
    assert outcomes["globex"].decision.action == "step"
    assert store.active("acme", "fraud").revision == 1
    assert (controller.counts.failures, controller.counts.steps) == (1, 1)


def test_counters_are_prometheus_metrics(store, clock) -> None:  # type: ignore[no-untyped-def]
    store.deploy("acme", canary())
    controller = RolloutController(store, ScriptedStats(), clock=clock)
    registry = CollectorRegistry()
    registry.register(ControllerCollector(controller.counts))
    controller.run_once()
    clock.advance(61)
    controller.run_once()

    text = generate_latest(registry).decode()

    assert 'ailayer_rollout_transitions_total{action="step"} 1.0' in text
    assert 'ailayer_rollout_transitions_total{action="rollback"} 0.0' in text
    assert "ailayer_rollout_holds_total 1.0" in text
    assert "ailayer_rollout_conflicts_total 0.0" in text
    assert "ailayer_rollout_canaries 1.0" in text
    assert "acme" not in text and "fraud" not in text


def test_the_thread_runs_passes_until_stopped(store) -> None:  # type: ignore[no-untyped-def]
    store.deploy("acme", canary())
    ahead = Clock()
    ahead.advance(3600)
    controller = RolloutController(store, ScriptedStats(), interval=0.01, clock=ahead)
    running = ControllerThread(controller).start()
    try:
        for _ in range(500):
            if store.active("acme", "fraud").revision > 1:
                break
            threading.Event().wait(0.01)
    finally:
        running.stop(5)
    assert store.active("acme", "fraud").revision > 1
    passes = controller.counts.passes
    threading.Event().wait(0.05)
    assert controller.counts.passes == passes  # stopped
