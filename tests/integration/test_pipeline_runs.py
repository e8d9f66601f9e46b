"""Pipeline runs on SQLite and the real PostgreSQL: a whole run, and at most one running
run of a pipeline per tenant when many processes' threads start it at once."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from ailayer.core.errors import Conflict
from ailayer.db.tables import metadata
from ailayer.governance.keys import KeyService
from tests.support.pipelines import stack

pytestmark = pytest.mark.integration

STARTERS = 8


@pytest.fixture
def pipes(tmp_path: Path, metadata_url: str):  # type: ignore[no-untyped-def]
    made = stack(tmp_path, metadata_url)
    yield made
    made.close()


def test_a_run_and_its_record(pipes) -> None:  # type: ignore[no-untyped-def]
    run = pipes.service.run(pipes.tenant, "fraud-weekly", actor="alice")
    assert run.status == "succeeded", run.error
    assert [s.status for s in run.steps] == ["completed"] * 6
    version = pipes.tools.registry.resolve_alias(pipes.tenant, "fraud", "challenger")
    assert version.pipeline_run == run.id and version.dataset_version == run.dataset_version
    other = KeyService(pipes.db).create_tenant("globex")
    assert pipes.tools.runs.list(other) == []
    assert [r.id for r in pipes.tools.runs.list(pipes.tenant, "fraud-weekly")] == [run.id]


def test_concurrent_starts_make_one_running_run(pipes) -> None:  # type: ignore[no-untyped-def]
    barrier = threading.Barrier(STARTERS)
    started, refused = [], []

    def start() -> None:
        barrier.wait()
        try:
            started.append(
                pipes.tools.runs.start(
                    pipes.tenant, "fraud-weekly", trigger={}, actor="a", spec={}, params={}, seed=0
                )
            )
        except Conflict as exc:
            refused.append(exc)

    threads = [threading.Thread(target=start) for _ in range(STARTERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(started) == 1 and len(refused) == STARTERS - 1
    assert all(started[0].id in exc.message for exc in refused)
    # another tenant's run of the same pipeline is its own
    other = KeyService(pipes.db).create_tenant("globex")
    pipes.tools.runs.start(other, "fraud-weekly", trigger={}, actor="a", spec={}, params={}, seed=0)


def test_the_tables_match_their_migration(pipes) -> None:  # type: ignore[no-untyped-def]
    with pipes.db.engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), metadata)
    ours = [d for d in _flat(differences) if "pipeline_" in repr(d)]
    assert ours == []


def _flat(differences: list) -> list:  # type: ignore[type-arg]
    return [item for d in differences for item in (d if isinstance(d, list) else [d])]
