"""A canary handed off by a pipeline run: the rollout controller's final verdict
(promoted, or rolled back with its reason) is recorded on that run and in the audit log."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from ailayer.core.clock import utcnow
from ailayer.db.tables import audit_log
from ailayer.pipelines.pipeline import Pipeline, Pipelines
from ailayer.pipelines.verdicts import RunVerdicts
from ailayer.rollout.controller import RolloutController
from ailayer.rollout.policy import Variant, requested
from ailayer.rollout.verdict import VariantStats
from tests.support.pipelines import Stack, stack

PLAN = {"steps": [10, 50, 100], "step_seconds": 30, "min_requests": 20}
STABLE = VariantStats(requests=500, errors=0, p99_ms=10.0)
HEALTHY = VariantStats(requests=100, errors=0, p99_ms=11.0)
FAILING = VariantStats(requests=100, errors=40, p99_ms=11.0)


class Stats:
    """What the variants did, as the test says (the controller's stats port)."""

    def __init__(self, canary: VariantStats) -> None:
        self.canary = canary

    def variant_stats(
        self, tenant_id: str, endpoint: str, variants: Sequence[Variant], start, end
    ) -> dict[str, VariantStats]:  # type: ignore[no-untyped-def]
        return {"stable": STABLE, "canary": self.canary}


def later() -> datetime:
    """The controller's clock: each step has run its ``step_seconds`` already."""
    return utcnow() + timedelta(hours=1)


@pytest.fixture
def pipes(tmp_path: Path) -> Iterator[Stack]:
    made = stack(tmp_path, f"sqlite:///{tmp_path / 'meta.db'}")
    declared = made.service.pipelines.get("fraud-weekly")
    fields = {name: getattr(declared, name) for name in declared.__dataclass_fields__}
    made.service.pipelines = Pipelines(
        None, [Pipeline(**{**fields, "endpoint": "fraud-check", "canary": PLAN})]
    )
    yield made
    made.close()


def controller(pipes: Stack, canary: VariantStats) -> RolloutController:
    return RolloutController(
        pipes.tools.deployments, Stats(canary), clock=later, verdicts=RunVerdicts(pipes.tools.runs)
    )


def audited(pipes: Stack, action: str) -> list[dict]:
    with pipes.db.read() as conn:
        rows = conn.execute(select(audit_log).where(audit_log.c.action == action)).all()
    return [row.detail for row in rows]


def test_a_promoted_canary_is_recorded_on_its_run(pipes: Stack) -> None:
    first = pipes.service.run(pipes.tenant, "fraud-weekly", actor="alice")
    second = pipes.service.run(pipes.tenant, "fraud-weekly", actor="alice")
    assert second.rollout["kind"] == "canary" and "verdict" not in second.rollout
    judge = controller(pipes, HEALTHY)
    assert [o.decision.action for o in judge.run_once()] == ["step"]
    assert "verdict" not in pipes.tools.runs.get(pipes.tenant, second.id).rollout
    assert [o.decision.action for o in judge.run_once()] == ["promote"]

    rollout = pipes.tools.runs.get(pipes.tenant, second.id).rollout
    policy = pipes.tools.deployments.get(pipes.tenant, "fraud-check")
    assert rollout["verdict"]["state"] == "promoted"
    assert rollout["verdict"]["revision"] == policy.revision == 4
    assert rollout["verdict"]["reason"] == policy.reason
    assert rollout["verdict"]["reason"].startswith("promote to 100%")
    assert rollout["verdict"]["by"] == "rollout-controller"
    assert pipes.tools.runs.get(pipes.tenant, first.id).rollout["kind"] == "single"
    assert "verdict" not in pipes.tools.runs.get(pipes.tenant, first.id).rollout
    [entry] = audited(pipes, "pipeline.run.verdict")
    assert entry["run"] == second.id and entry["state"] == "promoted"
    assert (entry["model"], entry["version"]) == ("fraud", second.model_version)


def test_a_rolled_back_canary_is_recorded_with_its_reason(pipes: Stack) -> None:
    pipes.service.run(pipes.tenant, "fraud-weekly", actor="alice")
    second = pipes.service.run(pipes.tenant, "fraud-weekly", actor="alice")
    assert [o.decision.action for o in controller(pipes, FAILING).run_once()] == ["rollback"]

    verdict = pipes.tools.runs.get(pipes.tenant, second.id).rollout["verdict"]
    assert verdict["state"] == "rolled_back"
    assert "canary error rate 0.400 exceeds stable 0.000" in verdict["reason"]
    policy = pipes.tools.deployments.get(pipes.tenant, "fraud-check")
    assert policy.state == "rolled_back" and verdict["revision"] == policy.revision


def test_a_canary_deployed_by_hand_touches_no_run(pipes: Stack) -> None:
    """A canary of versions no run handed off: the verdict stands, no run changes."""
    run = pipes.service.run(pipes.tenant, "fraud-weekly", actor="alice")
    second = pipes.service.run(pipes.tenant, "fraud-weekly", actor="alice")
    pipes.tools.deployments.rollback(pipes.tenant, "bob", "fraud-check", "by hand")
    body = {
        "kind": "canary",
        "variants": [
            {"name": "stable", "model": "fraud", "version": second.model_version},
            {"name": "canary", "model": "fraud", "version": run.model_version},
        ],
        "canary": PLAN,
    }
    pipes.tools.deployments.put(pipes.tenant, "bob", requested("fraud-check", body))
    assert [o.decision.action for o in controller(pipes, FAILING).run_once()] == ["rollback"]
    assert "verdict" not in pipes.tools.runs.get(pipes.tenant, run.id).rollout
    assert "verdict" not in pipes.tools.runs.get(pipes.tenant, second.id).rollout
    assert audited(pipes, "pipeline.run.verdict") == []
