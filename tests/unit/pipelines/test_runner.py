"""A pipeline run end to end on the embedded stack: every step recorded, the model
version pointing back at the run, faults failing the run with their error."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import update

from ailayer.core.errors import Conflict
from ailayer.features.loader import load_definitions
from ailayer.governance import audit
from ailayer.pipelines.runner import PipelineService, launch
from ailayer.pipelines.tables import pipeline_runs
from tests.support.pipelines import Stack, customer_stats, labels, stack


@pytest.fixture
def pipes(tmp_path: Path):  # type: ignore[no-untyped-def]
    made = stack(tmp_path, f"sqlite:///{tmp_path / 'meta.db'}")
    yield made
    made.close()


def test_a_run_records_its_steps_and_registers_a_challenger(pipes: Stack) -> None:
    run = pipes.service.run(pipes.tenant, "fraud-weekly", actor="alice")
    assert run.status == "succeeded", run.error
    assert [s.name for s in run.steps] == [
        "build",
        "train",
        "evaluate",
        "gates",
        "register",
        "deploy",
    ]
    assert all(s.status == "completed" for s in run.steps)
    assert run.dataset_sha256 and run.dataset_version
    assert run.definitions["customer_stats"]["revision"] == 1
    assert run.params == {"C": 1.0} and run.seed == 7
    assert run.packages["scikit-learn"] and run.packages["python"].startswith("3.")
    assert run.metrics["accuracy"] > 0.8
    assert set(run.artifacts) == {"entities", "model", "predictions"}
    version = pipes.tools.registry.get_version(pipes.tenant, "fraud", run.model_version)
    assert version.aliases == ["challenger"]
    assert version.pipeline_run == run.id
    assert version.dataset_version == run.dataset_version
    assert version.feature_refs == ["customer_stats:avg_amount", "customer_stats:txn_count"]
    assert version.metrics == run.metrics
    assert version.params == {"C": 1.0, "seed": 7}


def test_a_step_that_raises_fails_the_run_and_resume_carries_on(pipes: Stack) -> None:
    (pipes.repo.parent / "train-raise").write_text("")
    failed = pipes.service.run(pipes.tenant, "fraud-weekly", actor="alice")
    assert failed.status == "failed"
    assert failed.current_step == "train"
    assert failed.error == "RuntimeError: the trainer broke"
    assert [(s.name, s.status) for s in failed.steps] == [
        ("build", "completed"),
        ("train", "failed"),
    ]
    assert failed.step("train").error == "RuntimeError: the trainer broke"
    assert pipes.tools.registry.list_models(pipes.tenant) == []

    (pipes.repo.parent / "train-raise").unlink()
    resumed = pipes.service.resume(pipes.tenant, failed.id, actor="bob")
    assert resumed.status == "succeeded", resumed.error
    assert resumed.attempt == 2
    build = resumed.step("build")
    assert build.attempt == 1 and build.started_at == failed.step("build").started_at
    assert resumed.step("train").attempt == 2
    assert resumed.dataset_sha256 == failed.dataset_sha256
    versions = pipes.tools.registry.get_model(pipes.tenant, "fraud")["versions"]
    assert [v["pipeline_run"] for v in versions] == [failed.id]


def test_a_finished_run_does_not_resume(pipes: Stack) -> None:
    run = pipes.service.run(pipes.tenant, "fraud-weekly", actor="alice")
    with pytest.raises(Conflict, match="succeeded: only a failed or interrupted run resumes"):
        pipes.service.resume(pipes.tenant, run.id, actor="alice")


def test_one_running_run_per_pipeline_and_tenant(pipes: Stack) -> None:
    held = pipes.tools.runs.start(
        pipes.tenant, "fraud-weekly", trigger={}, actor="a", spec={}, params={}, seed=0
    )
    with pytest.raises(Conflict, match=f"already has a running run \\({held.id}\\)"):
        pipes.service.run(pipes.tenant, "fraud-weekly", actor="alice")
    with pytest.raises(Conflict, match="still running"):
        pipes.service.resume(pipes.tenant, held.id, actor="alice")


def test_a_run_whose_process_died_is_interrupted_by_the_next(pipes: Stack) -> None:
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    held = pipes.tools.runs.start(
        pipes.tenant, "fraud-weekly", trigger={}, actor="a", spec={}, params={}, seed=0
    )
    with pipes.db.write() as conn:
        conn.execute(
            update(pipeline_runs)
            .where(pipeline_runs.c.id == held.id)
            .values(owner={"host": socket.gethostname(), "pid": int(dead.stdout)})
        )
    run = pipes.service.run(pipes.tenant, "fraud-weekly", actor="alice")
    assert run.status == "succeeded"
    assert pipes.tools.runs.get(pipes.tenant, held.id).status == "interrupted"


@pytest.mark.parametrize(
    ("labels", "words"),
    [
        (pa.table({"customer_id": pa.array([], pa.int64())}), "the entity rows are empty"),
        (labels().drop_columns(["is_fraud"]), "no label column 'is_fraud'"),
    ],
    ids=["empty", "no-label"],
)
def test_bad_entity_rows_fail_the_build_clearly(pipes: Stack, labels: pa.Table, words: str) -> None:
    pq.write_table(labels, pipes.root / "labels.parquet")
    run = pipes.service.run(pipes.tenant, "fraud-weekly", actor="alice")
    assert run.status == "failed" and run.current_step == "build"
    assert words in run.error


def test_nan_metrics_fail_the_run(tmp_path: Path) -> None:
    made = stack(tmp_path, f"sqlite:///{tmp_path / 'meta.db'}", extra=NAN_PIPELINE)
    try:
        run = made.service.run(made.tenant, "nan-model", actor="alice")
    finally:
        made.close()
    assert run.status == "failed" and run.current_step == "evaluate"
    assert "metrics are not numbers: rmse, mae" in run.error


NAN_PIPELINE = """

def nan_trainer(X, y, params, seed):
    import numpy as np
    from sklearn.linear_model import LinearRegression

    model = LinearRegression().fit(X.fillna(0.0).to_numpy(), y.to_numpy())
    model.coef_ = np.full_like(model.coef_, np.nan)
    return model


nan_model = Pipeline(
    "nan-model", model="amounts", features="fraud_features", entities="labels.parquet",
    label="is_fraud", trainer=nan_trainer, task="regression", compile=False,
)
"""


def test_reproduce_rebuilds_the_same_dataset_and_predictions(pipes: Stack) -> None:
    first = pipes.service.run(pipes.tenant, "fraud-weekly", actor="alice")
    # newer source rows (after every entity time) do not change the past
    later = pa.concat_tables([customer_stats(), customer_stats(days=90)])
    pq.write_table(later, pipes.root / "customer_stats.parquet")
    pq.write_table(labels(rows=10), pipes.root / "labels.parquet")  # the file moved on too

    again = pipes.service.reproduce(pipes.tenant, first.id, actor="bob")
    assert again.status == "succeeded", again.error
    assert again.reproduces == first.id
    assert again.dataset_sha256 == first.dataset_sha256
    assert again.dataset_version != first.dataset_version
    assert [s.name for s in again.steps] == ["build", "train", "evaluate"]
    assert (
        again.step("evaluate").outputs["predictions_sha256"]
        == first.step("evaluate").outputs["predictions_sha256"]
    )
    # (the skops archives themselves differ: a zip records when it was written)
    assert len(pipes.tools.registry.get_model(pipes.tenant, "fraud")["versions"]) == 1


def test_reproduce_says_when_the_past_changed(pipes: Stack) -> None:
    first = pipes.service.run(pipes.tenant, "fraud-weekly", actor="alice")
    rewritten = customer_stats().set_column(2, "avg_amount", pa.array([1.0] * 40))
    pq.write_table(rewritten, pipes.root / "customer_stats.parquet")
    again = pipes.service.reproduce(pipes.tenant, first.id, actor="bob")
    assert again.status == "failed" and again.current_step == "build"
    assert "the rebuilt training set differs from run" in again.error


def test_launch_runs_in_the_background(pipes: Stack) -> None:
    run_id = launch(
        _Services(pipes.service),
        pipes.tenant,
        "fraud-weekly",
        trigger={"kind": "test"},
        actor="sched",
    )
    deadline = time.monotonic() + 120
    while pipes.tools.runs.get(pipes.tenant, run_id).status == "running":
        assert time.monotonic() < deadline, "the launched run did not finish"
        time.sleep(0.1)
    run = pipes.tools.runs.get(pipes.tenant, run_id)
    assert run.status == "succeeded" and run.trigger == {"kind": "test"}


@dataclass
class _Services:
    pipelines: PipelineService


def test_starts_resumes_and_ends_are_audited(pipes: Stack) -> None:
    (pipes.repo.parent / "train-raise").write_text("")
    failed = pipes.service.run(pipes.tenant, "fraud-weekly", actor="alice")
    (pipes.repo.parent / "train-raise").unlink()
    pipes.service.resume(pipes.tenant, failed.id, actor="bob")
    with pipes.db.read() as conn:
        entries = audit.entries(conn, pipes.tenant, "pipeline/fraud-weekly")
    assert [(e["action"], e["actor"]) for e in reversed(entries)] == [
        ("pipeline.run.start", "alice"),
        ("pipeline.run.finish", "alice"),
        ("pipeline.run.resume", "bob"),
        ("pipeline.run.finish", "bob"),
    ]
    assert entries[0]["detail"]["status"] == "succeeded"
    assert entries[0]["detail"]["version"] == 1
    assert entries[2]["detail"]["error"] == "RuntimeError: the trainer broke"


def test_reproduce_says_when_the_definitions_changed(pipes: Stack) -> None:
    first = pipes.service.run(pipes.tenant, "fraud-weekly", actor="alice")
    definitions = load_definitions(pipes.repo)
    view = next(d for d in definitions if getattr(d, "name", "") == "customer_stats")
    changed = [replace(view, ttl=timedelta(days=7)) if d is view else d for d in definitions]
    pipes.tools.offline.registry.apply(pipes.tenant, "alice", changed)
    again = pipes.service.reproduce(pipes.tenant, first.id, actor="bob")
    assert again.status == "failed" and again.current_step == "build"
    assert "feature definitions changed since run" in again.error
    assert "customer_stats" in again.error
