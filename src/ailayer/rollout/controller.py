"""The rollout controller: steps every active canary, promotes it, or rolls it back.

One pass (``run_once``) reads every tenant's active canaries from the ``PolicyStore``,
asks the ``VariantStatsSource`` what each variant did since the policy's current revision
was stored (``changed_at``), lets ``verdict.decide`` judge, and stores the result with
``transition`` as a compare-and-set on the revision it judged. A hold stores nothing, so
a step's clock keeps running from the revision that began it.

Several replicas may run at once: for one revision only one ``transition`` succeeds; the
others get ``Conflict`` (as does a pass that judged a revision a person has since moved),
skip that canary quietly and count it. The next pass judges the new revision afresh.

Each decision is logged (tenant id, endpoint, action, reason: no secrets) and its reason
is stored on the policy. A final verdict (promote or rollback) is also told to the
``VerdictListener`` given, if any: a pipeline run that handed the canary off records it. ``ailayer controller`` runs passes in its own process;
``ailayer up`` runs them in a thread (``ControllerThread``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from ailayer.core.clock import utcnow
from ailayer.core.errors import Conflict
from ailayer.rollout.policy import CANARY, STABLE, Policy, PolicyStore
from ailayer.rollout.ports import VariantStatsSource, VerdictListener
from ailayer.rollout.verdict import Decision, decide

logger = logging.getLogger("ailayer.rollout")

ACTOR = "rollout-controller"
DEFAULT_INTERVAL = 5.0


@dataclass
class Counts:
    """What this controller did since it started (exported as Prometheus counters)."""

    steps: int = 0
    promotions: int = 0
    rollbacks: int = 0
    holds: int = 0
    conflicts: int = 0  # transitions another writer made first
    failures: int = 0  # canaries whose stats, store or verdict listener call raised
    passes: int = 0
    canaries: int = 0  # active canaries seen by the latest pass


@dataclass(frozen=True, slots=True)
class Outcome:
    """One canary in one pass: the decision, and the revision stored for it (None when
    held, lost to another writer — ``conflict`` — or failed)."""

    tenant_id: str
    endpoint: str
    decision: Decision | None
    stored: Policy | None = None
    conflict: bool = False
    error: str = ""


COUNTED = {"step": "steps", "promote": "promotions", "rollback": "rollbacks", "hold": "holds"}
FINAL = ("promote", "rollback")


class RolloutController:
    def __init__(
        self,
        store: PolicyStore,
        stats: VariantStatsSource,
        interval: float = DEFAULT_INTERVAL,
        *,
        clock: Callable[[], datetime] = utcnow,
        verdicts: VerdictListener | None = None,
    ) -> None:
        self.store = store
        self.stats = stats
        self.interval = interval
        self.clock = clock
        self.verdicts = verdicts
        self.counts = Counts()

    def run_once(self) -> list[Outcome]:
        """Judge every active canary once and store what changes."""
        canaries = self.store.canaries()
        self.counts.passes += 1
        self.counts.canaries = len(canaries)
        return [self._attempt(tenant_id, policy) for tenant_id, policy in canaries]

    def judge(self, tenant_id: str, policy: Policy) -> Outcome:
        """Decide on one canary policy and store the decision (unless it holds)."""
        now = self.clock()
        variants = [policy.variant(STABLE), policy.variant(CANARY)]
        start = policy.changed_at or now
        stats = self.stats.variant_stats(tenant_id, policy.endpoint, variants, start, now)
        decision = decide(policy, stats[STABLE], stats[CANARY], now)
        if decision.action == "hold":
            self.counts.holds += 1
            logger.debug("rollout %s/%s: hold (%s)", tenant_id, policy.endpoint, decision.reason)
            return Outcome(tenant_id, policy.endpoint, decision)
        try:
            stored = self.store.transition(
                tenant_id, ACTOR, policy.revision, _next(policy, decision)
            )
        except Conflict:
            self.counts.conflicts += 1
            logger.debug(
                "rollout %s/%s: revision %d moved meanwhile; %s skipped",
                tenant_id,
                policy.endpoint,
                policy.revision,
                decision.action,
            )
            return Outcome(tenant_id, policy.endpoint, decision, conflict=True)
        counter = COUNTED[decision.action]
        setattr(self.counts, counter, getattr(self.counts, counter) + 1)
        level = logging.WARNING if decision.action == "rollback" else logging.INFO
        logger.log(
            level,
            "rollout %s/%s: %s, revision %d (%s)",
            tenant_id,
            policy.endpoint,
            decision.action,
            stored.revision,
            decision.reason,
        )
        if decision.action in FINAL:
            self._tell(tenant_id, policy, stored)
        return Outcome(tenant_id, policy.endpoint, decision, stored)

    def _tell(self, tenant_id: str, judged: Policy, stored: Policy) -> None:
        """The final verdict to the listener; its failure is logged and counted, the
        verdict stands."""
        if self.verdicts is None:
            return
        try:
            self.verdicts.settled(tenant_id, judged.variant(CANARY), stored)
        except Exception:
            self.counts.failures += 1
            logger.exception(
                "rollout %s/%s: recording the %s verdict failed",
                tenant_id,
                judged.endpoint,
                stored.state,
            )

    def run(
        self, stop: threading.Event, report: Callable[[list[Outcome]], None] | None = None
    ) -> None:
        """Passes every ``interval`` seconds until ``stop`` is set; a failed pass is logged."""
        while not stop.is_set():
            try:
                outcomes = self.run_once()
                if report is not None:
                    report(outcomes)
            except Exception:
                self.counts.failures += 1
                logger.exception("rollout controller pass failed")
            stop.wait(self.interval)

    def _attempt(self, tenant_id: str, policy: Policy) -> Outcome:
        """``judge``, with a failure of one canary logged and counted, not raised: the
        other canaries of the pass are still judged."""
        try:
            return self.judge(tenant_id, policy)
        except Exception as exc:
            self.counts.failures += 1
            logger.exception("rollout %s/%s: judging failed", tenant_id, policy.endpoint)
            return Outcome(tenant_id, policy.endpoint, None, error=f"{type(exc).__name__}: {exc}")


def _next(policy: Policy, decision: Decision) -> Policy:
    """The policy the decision moves to, carrying the decision's reason."""
    if decision.action == "rollback":
        return policy.rolled_back(decision.reason)
    if decision.action == "promote":
        return policy.promoted(decision.reason)
    return replace(policy.at_step(policy.step + 1), reason=decision.reason)


class ControllerThread:
    """The controller in a daemon thread (``ailayer up``); ``stop`` ends it."""

    def __init__(self, controller: RolloutController) -> None:
        self.controller = controller
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=controller.run, args=(self._stop,), name="ailayer-rollout", daemon=True
        )

    def start(self) -> ControllerThread:
        self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self._thread.join(timeout)
