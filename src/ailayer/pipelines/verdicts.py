"""A canary's final verdict, written back to the pipeline run that handed it off.

The deploy step records the hand-off on the run (``rollout``: endpoint, kind, revision);
the rollout controller later promotes or rolls the canary back, in whichever process it
runs. ``RunVerdicts`` is the controller's ``VerdictListener``: it finds the run that
registered the canary's model version and started that canary on that endpoint, and adds
the verdict to the run's ``rollout`` as ``verdict`` (state, reason, revision, when), with
an audit entry, so the run records the outcome of its own hand-off.

The run is the latest one of this model version whose hand-off to this endpoint was a
canary at a revision no later than the verdict's and has no verdict yet; a version
deployed by hand (no run) is nobody's to record.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update

from ailayer.core.clock import utcnow
from ailayer.governance import audit
from ailayer.pipelines.runs import RunStore
from ailayer.pipelines.tables import pipeline_runs
from ailayer.rollout.controller import ACTOR
from ailayer.rollout.policy import Policy, Variant


class RunVerdicts:
    """The ``VerdictListener`` over the run store's database."""

    def __init__(self, runs: RunStore, actor: str = ACTOR) -> None:
        self.runs = runs
        self.actor = actor

    def settled(self, tenant_id: str, canary: Variant, stored: Policy) -> None:
        """Record ``stored``'s verdict on the run that handed ``canary`` off (if any)."""
        verdict = {
            "state": stored.state,
            "reason": stored.reason,
            "revision": stored.revision,
            "at": (stored.changed_at or utcnow()).isoformat(),
            "by": self.actor,
        }
        with self.runs.db.write() as conn:
            rows = conn.execute(
                select(pipeline_runs.c.id, pipeline_runs.c.pipeline, pipeline_runs.c.rollout)
                .where(
                    pipeline_runs.c.tenant_id == tenant_id,
                    pipeline_runs.c.model == canary.model,
                    pipeline_runs.c.model_version == canary.version,
                )
                .order_by(pipeline_runs.c.created_at.desc())
            ).all()
            run = next((r for r in rows if _awaits(r.rollout, stored)), None)
            if run is None:
                return
            conn.execute(
                update(pipeline_runs)
                .where(pipeline_runs.c.id == run.id)
                .values(rollout={**run.rollout, "verdict": verdict})
            )
            audit.record(
                conn,
                tenant_id,
                self.actor,
                "pipeline.run.verdict",
                f"pipeline/{run.pipeline}",
                run=run.id,
                endpoint=stored.endpoint,
                model=canary.model,
                version=canary.version,
                state=stored.state,
                reason=stored.reason,
            )


def _awaits(rollout: dict[str, Any] | None, stored: Policy) -> bool:
    """Whether a run's recorded hand-off is this canary's, still without a verdict."""
    return (
        bool(rollout)
        and rollout.get("endpoint") == stored.endpoint
        and rollout.get("kind") == "canary"
        and "verdict" not in rollout
        and int(rollout.get("revision") or 0) <= stored.revision
    )
