"""A pipeline run's register step goes through the same quota check as the API's
registration: over ``max_models`` or ``max_stored_bytes`` the run fails naming the quota
and registers nothing; and stored bytes count the files ailayer wrote offline."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ailayer.core.errors import NotFound, QuotaExceeded
from ailayer.core.limits import Limits
from ailayer.governance.quotas import Quotas
from ailayer.models.service import NewVersion
from ailayer.pipelines.runner import PipelineService
from ailayer.pipelines.sizes import OfflineSizes
from tests.support.pipelines import Stack, stack
from tests.support.services import tiny_sklearn_model


@pytest.fixture
def pipes(tmp_path: Path):  # type: ignore[no-untyped-def]
    made = stack(tmp_path, f"sqlite:///{tmp_path / 'meta.db'}")
    yield made
    made.close()


def limited(pipes: Stack, **limits: int) -> PipelineService:
    quotas = Quotas(pipes.db, Limits(**limits))
    return PipelineService(replace(pipes.tools, quotas=quotas), pipes.service.pipelines)


def other_model(pipes: Stack) -> None:
    tiny = tiny_sklearn_model()
    new = NewVersion(
        model="churn", flavor="sklearn", artifact=tiny.artifact, signature=tiny.signature
    )
    pipes.tools.registry.register(pipes.tenant, "alice", new)


def test_a_run_over_max_models_fails_at_register_naming_the_quota(pipes: Stack) -> None:
    other_model(pipes)
    run = limited(pipes, max_models=1).run(pipes.tenant, "fraud-weekly", actor="alice")
    assert run.status == "failed"
    assert run.current_step == "register"
    assert run.error == "quota max_models is 1 models; the tenant uses 1 and this adds 1"
    with pytest.raises(NotFound):
        pipes.tools.registry.get_model(pipes.tenant, "fraud")


def test_a_run_within_the_quotas_registers(pipes: Stack) -> None:
    run = limited(pipes, max_models=1, max_stored_bytes=10**9).run(
        pipes.tenant, "fraud-weekly", actor="alice"
    )
    assert run.status == "succeeded", run.error


def test_a_run_over_max_stored_bytes_fails_at_register(pipes: Stack) -> None:
    other_model(pipes)
    used = pipes.tools.registry.get_version(pipes.tenant, "churn", 1).artifact_size
    run = limited(pipes, max_stored_bytes=used + 10).run(
        pipes.tenant, "fraud-weekly", actor="alice"
    )
    assert run.status == "failed" and "max_stored_bytes" in run.error


def test_stored_bytes_count_what_ailayer_wrote_offline(pipes: Stack) -> None:
    root = pipes.root
    (root / "datasets").mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"x": list(range(1000))}), root / "datasets" / "d1.parquet")
    written = OfflineSizes(pipes.tools.offline.tenant_root).written(pipes.tenant)
    assert written == (root / "datasets" / "d1.parquet").stat().st_size
    quotas = Quotas(pipes.db, Limits(max_stored_bytes=written + 5), offline_bytes=lambda t: written)
    quotas.check_model_version(pipes.tenant, "fraud", 5)  # exactly at the limit
    with pytest.raises(QuotaExceeded) as refused:
        quotas.check_model_version(pipes.tenant, "fraud", 6)
    assert refused.value.field == "max_stored_bytes"
    assert f"uses {written}" in str(refused.value)
