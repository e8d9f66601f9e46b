"""The schema gate in a real run: the candidate is compared with the fields of the feature
service of the version its endpoint serves now, resolved against the applied definitions."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ailayer.models.service import NewVersion
from ailayer.pipelines.gates import ServedFeatures
from ailayer.pipelines.pipeline import Pipeline, Pipelines
from ailayer.rollout.policy import requested
from tests.support.pipelines import Stack, stack


def only_check(run) -> dict:  # type: ignore[no-untyped-def]
    [result] = run.gate_report["results"]
    [check] = result["checks"]
    return check


@pytest.fixture
def pipes(tmp_path: Path) -> Iterator[Stack]:
    made = stack(tmp_path, f"sqlite:///{tmp_path / 'meta.db'}")
    declared = made.service.pipelines.get("fraud-weekly")
    fields = {name: getattr(declared, name) for name in declared.__dataclass_fields__}
    gated = Pipeline(
        **{
            **fields,
            "endpoint": "fraud-check",
            "canary": {"steps": [50, 100]},
            "gates": [ServedFeatures(require_feature_service=True)],
        }
    )
    made.service.pipelines = Pipelines(None, [gated])
    yield made
    made.close()


def test_an_endpoint_serving_nothing_has_no_feature_service(pipes: Stack) -> None:
    run = pipes.service.run(pipes.tenant, "fraud-weekly", actor="alice")
    assert run.status == "rejected"
    check = only_check(run)
    assert check["measured"] is None
    assert "endpoint has no feature service (one is required)" in check["reason"]


def test_the_served_version_s_feature_service_covers_the_candidate(pipes: Stack) -> None:
    first = _deploy_by_hand(pipes, ["fraud_features"])
    run = pipes.service.run(pipes.tenant, "fraud-weekly", actor="alice")
    assert run.status == "succeeded", run.error
    check = only_check(run)
    assert check["passed"] is True and check["measured"] == 0.0
    assert run.rollout["kind"] == "canary"
    policy = pipes.tools.deployments.get(pipes.tenant, "fraud-check")
    assert policy.variant("stable").version == first


def test_a_feature_the_endpoint_does_not_serve_rejects_the_candidate(pipes: Stack) -> None:
    _deploy_by_hand(pipes, ["customer_stats:avg_amount"])
    run = pipes.service.run(pipes.tenant, "fraud-weekly", actor="alice")
    assert run.status == "rejected" and run.model_version is None
    check = only_check(run)
    assert check["passed"] is False and check["measured"] == 1.0
    assert "not served by the feature service: ['txn_count']" in check["reason"]
    assert "gate 'schema' failed" in run.error


def _deploy_by_hand(pipes: Stack, refs: list[str]) -> int:
    """A version of the model whose feature selection is ``refs``, serving the endpoint
    alone (its artifact trained by a gate-free run of the same pipeline)."""
    declared = pipes.service.pipelines.get("fraud-weekly")
    fields = {name: getattr(declared, name) for name in declared.__dataclass_fields__}
    free = Pipeline(**{**fields, "endpoint": None, "canary": None, "gates": []})
    pipes.service.pipelines = Pipelines(None, [free])
    trained = pipes.service.run(pipes.tenant, "fraud-weekly", actor="alice")
    registry = pipes.tools.registry
    made = registry.get_version(pipes.tenant, "fraud", trained.model_version)
    new = NewVersion(
        model="fraud",
        flavor=made.flavor,
        artifact=registry.load_artifact(pipes.tenant, made),
        signature={"inputs": [{"name": "avg_amount", "type": "double"}]},
        feature_refs=refs,
        compile=False,
    )
    version = registry.register(pipes.tenant, "bob", new).version
    body = {
        "kind": "single",
        "variants": [{"name": "main", "model": "fraud", "version": version, "share": 100}],
    }
    pipes.tools.deployments.put(pipes.tenant, "bob", requested("fraud-check", body))
    pipes.service.pipelines = Pipelines(None, [declared])
    return version
