"""The deploy step: an endpoint's first model is deployed alone; a later one starts as a
canary against the stable version with the pipeline's plan; the run records the hand-off."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ailayer.core.errors import InvalidInput
from ailayer.pipelines.pipeline import Pipeline, Pipelines
from tests.support.pipelines import Stack, stack

PLAN = {"steps": [10, 50, 100], "step_seconds": 30, "min_requests": 20}


def fields(pipeline: Pipeline) -> dict:
    return {name: getattr(pipeline, name) for name in pipeline.__dataclass_fields__}


@pytest.fixture
def pipes(tmp_path: Path) -> Iterator[Stack]:
    made = stack(tmp_path, f"sqlite:///{tmp_path / 'meta.db'}")
    declared = fields(made.service.pipelines.get("fraud-weekly"))
    made.service.pipelines = Pipelines(
        None, [Pipeline(**{**declared, "endpoint": "fraud-check", "canary": PLAN})]
    )
    yield made
    made.close()


def test_first_model_alone_then_a_canary(pipes: Stack) -> None:
    first = pipes.service.run(pipes.tenant, "fraud-weekly", actor="alice")
    assert first.rollout == {
        "endpoint": "fraud-check",
        "kind": "single",
        "revision": 1,
        "state": "active",
    }
    second = pipes.service.run(pipes.tenant, "fraud-weekly", actor="alice")
    assert second.status == "succeeded", second.error
    assert second.rollout["kind"] == "canary" and second.rollout["revision"] == 2
    policy = pipes.tools.deployments.get(pipes.tenant, "fraud-check")
    assert [(v.name, v.version, v.share) for v in policy.variants] == [
        ("stable", 1, 90),
        ("canary", 2, 10),
    ]
    assert policy.canary.steps == (10, 50, 100) and policy.canary.min_requests == 20
    assert second.step("deploy").outputs == second.rollout


def test_a_wrong_canary_plan_is_refused_at_declaration(pipes: Stack) -> None:
    declared = fields(pipes.service.pipelines.get("fraud-weekly"))
    with pytest.raises(InvalidInput) as raised:
        Pipeline(**{**declared, "canary": {"steps": [50, 10]}})
    assert raised.value.field == "canary.steps"
