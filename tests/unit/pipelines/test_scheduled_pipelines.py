"""The scheduler runs the pipelines of the feature repository: a pipeline's triggers are
checked for every tenant, and a firing starts a real run of it."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ailayer.bootstrap import build, declared_pipelines, pipeline_scheduler
from ailayer.core.errors import InvalidInput
from ailayer.features.loader import load_definitions
from ailayer.pipelines import Pipeline
from ailayer.pipelines.pipeline import Pipelines
from tests.support.pipelines import write_data, write_repo

SCHEDULED = """

scheduled = Pipeline(
    "fraud-hourly",
    model="fraud-hourly",
    features="fraud_features",
    entities="labels.parquet",
    label="is_fraud",
    trainer=train,
    params={"C": 1.0},
    compile=False,
    triggers=[Schedule("* * * * *")],
)
"""


def test_a_scheduled_pipeline_is_launched_for_every_tenant(make_settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    repo = write_repo(
        tmp_path / "repo", "from ailayer.pipelines.triggers import Schedule" + SCHEDULED
    )
    services = build(make_settings(feature_repo=str(repo)))
    try:
        tenants = [services.keys.create_tenant(name) for name in ("acme", "globex")]
        for tenant_id in tenants:
            services.features.apply(tenant_id, "alice", load_definitions(repo))
            write_data(services.settings.home / "offline" / tenant_id)
        declared = declared_pipelines(services)()
        assert sorted((d.tenant_id, d.pipeline) for d in declared) == sorted(
            (t, "fraud-hourly") for t in tenants
        )  # fraud-weekly has no triggers: never scheduled

        scheduler = pipeline_scheduler(services)
        assert scheduler.run_once() == []  # the first pass marks where the schedule starts
        later = datetime.now(UTC) + timedelta(minutes=1)
        scheduler.clock = scheduler.marks.clock = lambda: later
        decisions = scheduler.run_once()

        launched = [d for d in decisions if d.outcome == "launched"]
        assert sorted(d.tenant_id for d in launched) == sorted(tenants)
        for decision in launched:
            deadline = time.monotonic() + 120
            while (
                run := services.pipelines.runs.get(decision.tenant_id, decision.run_id)
            ).status == "running":
                assert time.monotonic() < deadline
                time.sleep(0.1)
            assert run.status == "succeeded", run
    finally:
        services.close()


def test_a_bad_trigger_is_refused_when_the_pipeline_is_declared() -> None:
    with pytest.raises(InvalidInput) as refused:
        Pipeline(
            "p", model="m", features="fs", entities="e.parquet", label="y",
            trainer=lambda X, y, params, seed: None, triggers=["every hour"],
        )  # fmt: skip
    assert refused.value.field.startswith("trigger")


def test_the_scheduler_reads_the_repository_again_only_when_it_changed(tmp_path: Path) -> None:
    repo = write_repo(tmp_path / "repo", "from ailayer.pipelines.triggers import Schedule")
    pipelines = Pipelines(repo)
    first = pipelines.all()
    pipelines.refresh()
    assert pipelines.all() is first  # unchanged: not imported again

    repo.write_text(repo.read_text() + SCHEDULED)
    pipelines.refresh()
    again = pipelines.all()
    assert again is not first
    assert "fraud-hourly" in again and "fraud-hourly" not in first
