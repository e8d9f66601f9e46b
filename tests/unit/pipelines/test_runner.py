"""A pipeline run end to end on the embedded stack: every step recorded, the model
version pointing back at the run, faults failing the run with their error."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.pipelines import Stack, stack


@pytest.fixture
def pipes(tmp_path: Path):  # type: ignore[no-untyped-def]
    made = stack(tmp_path, f"sqlite:///{tmp_path / 'meta.db'}")
    yield made
    made.close()


def test_a_run_records_its_steps_and_registers_a_challenger(pipes: Stack) -> None:
    run = pipes.service.run(pipes.tenant, "fraud-weekly", actor="alice")
    assert run.status == "succeeded", run.error
    assert [s.name for s in run.steps] == ["build", "train", "evaluate", "gates", "register", "deploy"]
    assert all(s.status == "completed" for s in run.steps)
    assert run.dataset_sha256 and run.dataset_version
    assert run.definitions["customer_stats"]["revision"] == 1
    assert run.params == {"C": 1.0} and run.seed == 7
    assert run.packages["scikit-learn"]
    assert run.metrics["accuracy"] > 0.8
    assert set(run.artifacts) == {"entities", "model", "predictions"}
    version = pipes.tools.registry.get_version(pipes.tenant, "fraud", run.model_version)
    assert version.aliases == ["challenger"]
    assert version.pipeline_run == run.id
    assert version.dataset_version == run.dataset_version
    assert version.feature_refs == ["customer_stats:avg_amount", "customer_stats:txn_count"]
    assert version.metrics == run.metrics
    assert version.params == {"C": 1.0, "seed": 7}
