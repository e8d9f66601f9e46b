"""The concept-drift scenario's set-up on real stores, and how ``ailayer up --scenario``
refuses what it cannot do. (The whole loop runs in tests/e2e/test_fraud_example.py.)"""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest

from ailayer.bootstrap import build
from ailayer.core.errors import Conflict
from ailayer.demo import concept_drift, loop_repo
from tests.support.cli import run


def test_set_up_deploys_a_first_model_and_refuses_a_second_time(make_settings) -> None:  # type: ignore[no-untyped-def]
    services = build(make_settings(**concept_drift.SETTINGS))
    try:
        tenant = services.keys.ensure_tenant("default")
        said: list[str] = []
        plan = concept_drift.Plan()
        version = concept_drift.set_up(services, tenant, "alice", plan, said.append)

        assert version == 1
        champion = services.registry.resolve_alias(tenant, loop_repo.MODEL, "champion")
        assert champion.version == 1 and champion.pipeline_run is not None
        policy = services.deployments.get(tenant, loop_repo.ENDPOINT)
        assert [(v.model, v.version, v.share) for v in policy.live] == [(loop_repo.MODEL, 1, 100)]
        [rule] = [r for r in services.alerts.rules(tenant) if r.rule.name == "fraud-concept"]
        assert rule.rule.kind == "concept_drift" and rule.rule.for_ == concept_drift.CONFIRM_PASSES
        root = services.offline.tenant_root(tenant)
        recent = pq.read_table(root.location(loop_repo.RECENT)).to_pandas()
        assert len(recent) == plan.recent
        assert recent["event_timestamp"].max() < concept_drift.START
        assert any("trained fraud-loop v1" in line for line in said)

        with pytest.raises(Conflict) as refused:
            concept_drift.set_up(services, tenant, "alice", plan, said.append)
        assert refused.value.field == "scenario" and "already ran" in refused.value.message
    finally:
        services.close()


def test_up_refuses_a_scenario_without_serving_and_an_unknown_one() -> None:
    no_serve = run("up", "--scenario", "concept-drift", "--no-serve")
    assert no_serve.exit_code == 2 and "--scenario plays against the server" in no_serve.output
    unknown = run("up", "--scenario", "nope")
    assert unknown.exit_code == 2 and "concept-drift" in unknown.output
