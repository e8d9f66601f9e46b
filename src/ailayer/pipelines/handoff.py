"""The deploy step: hand a registered version to serving through the rollout module.

The endpoint's first version is deployed alone; a later one starts as a canary against
the version that serves most of the endpoint's traffic now, with the pipeline's canary
plan, and the rollout controller promotes or rolls it back from there
(``docs/rollouts.md``). The run records the hand-off.
"""

from __future__ import annotations

from typing import Any

from ailayer.pipelines.steps import Work
from ailayer.rollout.policy import requested


def deploy(work: Work) -> dict[str, Any]:
    """A canary of the new version against the endpoint's current stable version, with the
    pipeline's canary plan; the endpoint's first version is deployed alone."""
    pipeline = work.pipeline
    if pipeline.endpoint is None or work.tools.deployments is None:
        outcome = {"skipped": "no endpoint declared"}
        work.record(rollout=outcome)
        return outcome
    version = work.outputs["register"]["version"]
    store = work.tools.deployments
    current = store.active(work.tenant_id, pipeline.endpoint)
    new = {"name": "canary", "model": pipeline.model, "version": version}
    if current is None or not current.live:
        body: dict[str, Any] = {
            "kind": "single",
            "variants": [{**new, "name": "main", "share": 100}],
        }
    else:
        stable = max(current.live, key=lambda v: v.share)
        if (stable.model, stable.version) == (pipeline.model, version):
            outcome = {"endpoint": pipeline.endpoint, "skipped": "already serving this version"}
            work.record(rollout=outcome)
            return outcome
        body = {
            "kind": "canary",
            "variants": [{"name": "stable", "model": stable.model, "version": stable.version}, new],
            "canary": dict(pipeline.canary or {}),
        }
    policy = requested(pipeline.endpoint, body)
    store.check(work.tenant_id, policy)
    stored = store.put(work.tenant_id, work.actor, policy)
    outcome = {
        "endpoint": pipeline.endpoint,
        "kind": stored.kind,
        "revision": stored.revision,
        "state": stored.state,
    }
    work.record(rollout=outcome)
    return outcome
