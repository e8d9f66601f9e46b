"""The gates step: a failing gate stops the run before register with its report saved; a
gate that raises fails closed; a thing that is not a gate is refused at declaration."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from ailayer.core.errors import InvalidInput
from ailayer.pipelines.gating import Candidate
from ailayer.pipelines.pipeline import Pipeline, Pipelines
from tests.support.pipelines import Stack, stack


@dataclass(frozen=True)
class Result:
    passed: bool
    value: float
    threshold: float
    reason: str = ""


@dataclass
class MinAccuracy:
    """A real, small gate: holdout accuracy of the candidate at least ``threshold``."""

    threshold: float
    name: str = "min_accuracy"
    seen: Candidate | None = None

    def check(self, candidate: Candidate) -> Result:
        self.seen = candidate
        x = candidate.holdout[candidate.features].fillna(0.0).to_numpy()
        truth = candidate.holdout[candidate.label].to_numpy()
        accuracy = float(np.mean(candidate.model.predict(x) == truth))
        reason = "" if accuracy >= self.threshold else f"accuracy {accuracy:.3f} < {self.threshold}"
        return Result(accuracy >= self.threshold, accuracy, self.threshold, reason)


class Broken:
    name = "broken"

    def check(self, candidate: Candidate) -> Result:
        raise KeyError("sensitive attribute 'region'")


def with_gates(pipes: Stack, *gates: object) -> None:
    declared = pipes.service.pipelines.get("fraud-weekly")
    gated = Pipeline(**{**_fields(declared), "gates": list(gates)})
    pipes.service.pipelines = Pipelines(None, [gated])


def _fields(pipeline: Pipeline) -> dict:
    return {name: getattr(pipeline, name) for name in pipeline.__dataclass_fields__}


@pytest.fixture
def pipes(tmp_path: Path):  # type: ignore[no-untyped-def]
    made = stack(tmp_path, f"sqlite:///{tmp_path / 'meta.db'}")
    yield made
    made.close()


def test_a_passing_gate_lets_the_model_register(pipes: Stack) -> None:
    gate = MinAccuracy(0.8)
    with_gates(pipes, gate)
    run = pipes.service.run(pipes.tenant, "fraud-weekly", actor="alice")
    assert run.status == "succeeded", run.error
    assert run.gate_report["passed"] is True
    [result] = run.gate_report["results"]
    assert result["gate"] == "min_accuracy" and result["passed"] is True
    assert result["value"] == pytest.approx(run.metrics["accuracy"])
    assert gate.seen is not None
    assert gate.seen.features == ["avg_amount", "txn_count"]
    assert gate.seen.champion is None  # no champion yet
    assert len(gate.seen.holdout) == 48 and "is_fraud" in gate.seen.holdout


def test_a_failing_gate_stops_the_run_before_register(pipes: Stack) -> None:
    with_gates(pipes, MinAccuracy(0.8), MinAccuracy(1.01, name="perfect"))
    run = pipes.service.run(pipes.tenant, "fraud-weekly", actor="alice")
    assert run.status == "rejected"
    assert run.error.startswith("gate 'perfect' failed: accuracy")
    assert [r["passed"] for r in run.gate_report["results"]] == [True, False]
    assert [(s.name, s.status) for s in run.steps][-1] == ("gates", "rejected")
    assert run.model_version is None
    assert pipes.tools.registry.list_models(pipes.tenant) == []


def test_a_gate_that_raises_fails_closed(pipes: Stack) -> None:
    with_gates(pipes, Broken())
    run = pipes.service.run(pipes.tenant, "fraud-weekly", actor="alice")
    assert run.status == "rejected"
    assert run.gate_report["results"] == [
        {"gate": "broken", "passed": False, "reason": "KeyError: \"sensitive attribute 'region'\""}
    ]


def test_the_champion_is_handed_to_the_gates(pipes: Stack) -> None:
    first = pipes.service.run(pipes.tenant, "fraud-weekly", actor="alice")
    pipes.tools.registry.set_alias(pipes.tenant, "alice", "fraud", "champion", first.model_version)
    gate = MinAccuracy(0.5)
    with_gates(pipes, gate)
    assert pipes.service.run(pipes.tenant, "fraud-weekly", actor="alice").status == "succeeded"
    assert type(gate.seen.champion).__name__ == "LogisticRegression"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"gates": [object()]}, "gates"),
        ({"holdout": 1.5}, "holdout"),
        ({"name": "no spaces allowed"}, "name"),
        ({"flavor": "pickle"}, "flavor"),
        ({"features": []}, "features"),
        ({"canary": {"steps": [10, 100]}}, "canary"),
        ({"trainer": "train"}, "trainer"),
        ({"seed": 1.5}, "seed"),
    ],
)
def test_a_misconfigured_pipeline_is_refused_at_declaration(
    pipes: Stack, change: dict, field: str
) -> None:
    declared = _fields(pipes.service.pipelines.get("fraud-weekly"))
    with pytest.raises(InvalidInput) as raised:
        Pipeline(**{**declared, **change})
    assert raised.value.field == field
