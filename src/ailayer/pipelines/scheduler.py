"""The scheduler: turns trigger firings into pipeline runs, one run at a time.

Each pass (``run_once``) asks ``declared()`` for every tenant's pipelines and their
triggers, and checks each schedule and new-data trigger; ``on_alert`` does the same for
an ``ailayer.alert.fired`` event (``listen.AlertListener`` feeds it from the bus). A
trigger that fires is handled in three steps:

1. **Claim** the firing by moving the trigger's mark (``marks.TriggerMarks``, a
   compare-and-set): when several replicas see one firing, one claims it and the others
   drop it quietly (counted as ``claimed_elsewhere``). A trigger seen for the first time
   only sets its mark: a schedule counts from then, new data from the size found then.
2. **Lease** the pipeline (``lease.Lease``) for the tenant; held elsewhere, the firing is
   skipped as already running.
3. **Launch** it: ``launch(tenant_id, pipeline, trigger)`` returns the run id. A
   ``Conflict`` from it (a run of that pipeline is still running) is a skip; any other
   exception is recorded as failed, and the scheduler goes on with the next firing.

Triggers of one pipeline that fire in one pass (or one alert) make one run: the first
launches, the others are recorded as skipped with it. Every firing and its decision is
written to the audit log (action ``pipeline.trigger``, target ``pipeline/<name>``).
"""

from __future__ import annotations

import json
import logging
import math
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ailayer.core.clock import utcnow
from ailayer.core.errors import Conflict
from ailayer.db.engine import Database
from ailayer.governance import audit
from ailayer.pipelines.lease import Lease
from ailayer.pipelines.marks import TriggerMarks
from ailayer.pipelines.sizes import SourceSizes
from ailayer.pipelines.triggers import Declared, NewData, OnAlert, Schedule, Trigger

logger = logging.getLogger("ailayer.scheduler")

Launch = Callable[[str, str, dict[str, Any]], str]
Declarations = Callable[[], Iterable[Declared]]

ACTOR = "scheduler"
ACTION = "pipeline.trigger"
DEFAULT_INTERVAL = 15.0
LAUNCHED, SKIPPED, FAILED = "launched", "skipped", "failed"


@dataclass(frozen=True)
class Decision:
    """What became of one firing: ``launched`` (with the run id), ``skipped`` or
    ``failed``, and why."""

    tenant_id: str
    pipeline: str
    trigger: dict[str, Any]
    outcome: str
    reason: str
    run_id: str | None = None


@dataclass
class Counts:
    """What this scheduler did since it started."""

    passes: int = 0
    launched: int = 0
    skipped: int = 0
    failed: int = 0
    claimed_elsewhere: int = 0  # firings another replica claimed first
    errors: int = 0  # triggers that could not be checked (a source unreadable, ...)


@dataclass
class _Firing:
    trigger: Trigger
    detail: dict[str, Any] = field(default_factory=dict)

    def body(self) -> dict[str, Any]:
        return {**self.trigger.to_dict(), "key": self.trigger.key, **self.detail}


class Scheduler:
    def __init__(
        self,
        declared: Declarations,
        launch: Launch,
        *,
        db: Database,
        lease: Lease,
        sizes: SourceSizes | None = None,
        interval: float = DEFAULT_INTERVAL,
        clock: Callable[[], datetime] = utcnow,
        actor: str = ACTOR,
    ) -> None:
        self.declared, self.launch, self.db, self.lease = declared, launch, db, lease
        self.sizes, self.interval, self.clock, self.actor = sizes, interval, clock, actor
        self.marks = TriggerMarks(db, clock=clock)
        self.counts = Counts()

    def run_once(self) -> list[Decision]:
        """Check every schedule and new-data trigger once; launch what fired."""
        self.counts.passes += 1
        now = self.clock()
        decisions: list[Decision] = []
        for entry in self.declared():
            firings = [f for t in entry.triggers if (f := self._check(entry, t, now)) is not None]
            decisions += self._handle(entry, firings)
        return decisions

    def on_alert(self, tenant_id: str, alert: dict[str, Any]) -> list[Decision]:
        """Launch the pipelines of ``tenant_id`` whose alert triggers want ``alert`` (the
        body of an ``ailayer.alert.fired`` event)."""
        decisions: list[Decision] = []
        for entry in self.declared():
            if entry.tenant_id != tenant_id:
                continue
            wanted = [t for t in entry.triggers if isinstance(t, OnAlert) and t.matches(alert)]
            firings = [f for t in wanted if (f := self._claim_alert(entry, t, alert)) is not None]
            decisions += self._handle(entry, firings)
        return decisions

    def run(
        self, stop: threading.Event, report: Callable[[list[Decision]], None] | None = None
    ) -> None:
        """Passes every ``interval`` seconds until ``stop`` is set; a failed pass is logged."""
        while not stop.is_set():
            try:
                decisions = self.run_once()
                if report is not None:
                    report(decisions)
            except Exception:
                self.counts.errors += 1
                logger.exception("scheduler pass failed")
            stop.wait(self.interval)

    # --- claiming -------------------------------------------------------------------------

    def _check(self, entry: Declared, trigger: Trigger, now: datetime) -> _Firing | None:
        try:
            if isinstance(trigger, Schedule):
                return self._claim_schedule(entry, trigger, now)
            if isinstance(trigger, NewData):
                return self._claim_new_data(entry, trigger)
        except Exception:
            self.counts.errors += 1
            logger.exception(
                "scheduler %s/%s: checking %s failed", entry.tenant_id, entry.pipeline, trigger.key
            )
        return None

    def _claim_schedule(self, entry: Declared, trigger: Schedule, now: datetime) -> _Firing | None:
        due = trigger.parsed.previous(now).isoformat()
        seen = self._mark(entry, trigger)
        if seen is not None and datetime.fromisoformat(seen) >= datetime.fromisoformat(due):
            return None
        if not self._advance(entry, trigger, seen, due) or seen is None:
            return None
        return _Firing(trigger, {"due": due})

    def _claim_new_data(self, entry: Declared, trigger: NewData) -> _Firing | None:
        if self.sizes is None:
            raise RuntimeError("this scheduler has no source sizes for new-data triggers")
        now = self.sizes.size(entry.tenant_id, trigger.source)
        seen = self._mark(entry, trigger)
        before = json.loads(seen) if seen is not None else None
        shrank = before is not None and any(now[k] < before[k] for k in ("rows", "bytes"))
        if before is None or shrank:  # a first look, or a rewritten source: a new baseline
            self._advance(entry, trigger, seen, json.dumps(now, sort_keys=True))
            return None
        if not trigger.grown(before, now):
            return None
        if not self._advance(entry, trigger, seen, json.dumps(now, sort_keys=True)):
            return None
        grown = {k: now[k] - before[k] for k in ("rows", "bytes")}
        return _Firing(trigger, {"grown": grown, "size": now})

    def _claim_alert(self, entry: Declared, trigger: OnAlert, alert: dict) -> _Firing | None:
        at = float(alert.get("at", 0.0))
        seen = self._mark(entry, trigger)
        if seen is not None and float(seen) >= at:
            return None  # this alert again, or an older one than the last acted on
        if not self._advance(entry, trigger, seen, repr(at)):
            return None
        keep = ("id", "rule", "kind", "endpoint", "model", "version", "metric", "value")
        return _Firing(trigger, {"alert": {k: _storable(alert.get(k)) for k in keep}})

    def _mark(self, entry: Declared, trigger: Trigger) -> str | None:
        return self.marks.get(entry.tenant_id, entry.pipeline, trigger.key)

    def _advance(self, entry: Declared, trigger: Trigger, seen: str | None, value: str) -> bool:
        moved = self.marks.advance(entry.tenant_id, entry.pipeline, trigger.key, seen, value)
        if not moved:
            self.counts.claimed_elsewhere += 1
            logger.debug(
                "scheduler %s/%s: %s claimed by another scheduler",
                entry.tenant_id,
                entry.pipeline,
                trigger.key,
            )
        return moved

    # --- launching ------------------------------------------------------------------------

    def _handle(self, entry: Declared, firings: list[_Firing]) -> list[Decision]:
        if not firings:
            return []
        first, *others = firings
        fired_at = self.clock().isoformat()
        body = {**first.body(), "fired_at": fired_at}
        if others:
            body["with"] = [other.trigger.key for other in others]
        decisions = [self._launch(entry, body)]
        reason = f"fired with {first.trigger.key}: one run for both"
        for other in others:
            together = {**other.body(), "fired_at": fired_at}
            decisions.append(Decision(entry.tenant_id, entry.pipeline, together, SKIPPED, reason))
        for decision in decisions:
            self._record(decision)
        return decisions

    def _launch(self, entry: Declared, body: dict[str, Any]) -> Decision:
        tenant_id, pipeline = entry.tenant_id, entry.pipeline
        try:
            if not self.lease.acquire(tenant_id, pipeline):
                reason = "already running: a launch of it holds its lease"
                return Decision(tenant_id, pipeline, body, SKIPPED, reason)
        except Exception as exc:
            return Decision(tenant_id, pipeline, body, FAILED, f"lease: {_error(exc)}")
        try:
            run_id = self.launch(tenant_id, pipeline, body)
        except Conflict as exc:
            return Decision(tenant_id, pipeline, body, SKIPPED, f"already running: {exc.message}")
        except Exception as exc:
            logger.exception("scheduler %s/%s: launch failed", tenant_id, pipeline)
            return Decision(tenant_id, pipeline, body, FAILED, f"launch: {_error(exc)}")
        finally:
            self._release(tenant_id, pipeline)
        return Decision(tenant_id, pipeline, body, LAUNCHED, "launched", run_id=str(run_id))

    def _release(self, tenant_id: str, pipeline: str) -> None:
        try:
            self.lease.release(tenant_id, pipeline)
        except Exception:
            logger.exception("scheduler %s/%s: releasing the lease failed", tenant_id, pipeline)

    def _record(self, decision: Decision) -> None:
        counter = {LAUNCHED: "launched", SKIPPED: "skipped", FAILED: "failed"}[decision.outcome]
        setattr(self.counts, counter, getattr(self.counts, counter) + 1)
        level = logging.WARNING if decision.outcome == FAILED else logging.INFO
        logger.log(
            level,
            "scheduler %s/%s: %s %s (%s)",
            decision.tenant_id,
            decision.pipeline,
            decision.trigger["key"],
            decision.outcome,
            decision.reason,
        )
        try:
            with self.db.write() as conn:
                audit.record(
                    conn,
                    decision.tenant_id,
                    self.actor,
                    ACTION,
                    f"pipeline/{decision.pipeline}",
                    trigger=decision.trigger,
                    decision=decision.outcome,
                    reason=decision.reason,
                    run_id=decision.run_id,
                )
        except Exception:
            logger.exception("scheduler: recording a %s decision failed", decision.outcome)


def _storable(value: Any) -> Any:
    """``value`` as JSON can hold it: a NaN or infinite number becomes its text."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def _error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


class SchedulerThread:
    """The scheduler in a daemon thread (``ailayer up``), with the alert listener when
    given one; ``stop`` ends both and lets go of the scheduler's leases."""

    def __init__(self, scheduler: Scheduler, listener: Any | None = None) -> None:
        self.scheduler, self.listener = scheduler, listener
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=scheduler.run, args=(self._stop,), name="ailayer-scheduler", daemon=True
        )

    def start(self) -> SchedulerThread:
        if self.listener is not None:
            self.listener.start()
        self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        if self.listener is not None:
            self.listener.stop(timeout)
        self._thread.join(timeout)
        self.scheduler.lease.close()
