"""Deployment routes: an endpoint's traffic policy (single, A/B, canary, shadow).

    PUT  /v1/endpoints/{name}/deployment            deploy a policy (a new revision)
    GET  /v1/endpoints/{name}/deployment            the policy and this server's shadow counters
    POST /v1/endpoints/{name}/deployment/promote    a canary to its next step, or {"to": 100}
    POST /v1/endpoints/{name}/deployment/rollback   the canary to 0% now ({"reason": ...})
    GET  /v1/endpoints/{name}/deployment/history    every revision, newest first

Before a policy is stored, each variant's model is loaded once in this server's model
cache: a model that does not load refuses the deployment (422 naming the variant), and
the policy that was serving keeps serving.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from anyio import from_thread
from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from ailayer.api.auth import requires
from ailayer.api.content import JsonBody
from ailayer.api.errors import body_responses, error_responses
from ailayer.api.ownership import changes, claim, endpoint_exists
from ailayer.api.params import Name
from ailayer.api.schemas import Strict
from ailayer.bootstrap import Services
from ailayer.core.errors import AilayerError, BackendUnavailable, InvalidInput
from ailayer.governance.principal import Principal
from ailayer.governance.roles import Permission
from ailayer.models.signature import Signature
from ailayer.rollout.policy import Policy, requested
from ailayer.serving.target import Target

router = APIRouter(prefix="/v1/endpoints", tags=["deployments"])


class VariantIn(Strict):
    name: str = Field(description="Unique in the policy; a canary's are stable and canary")
    model: str
    version: int
    share: int | None = Field(
        None,
        description="Whole percent of live traffic; 0 for shadows; a canary's come "
        "from its first step",
    )
    shadow: bool = False


class CanaryIn(Strict):
    steps: list[int] | None = Field(None, description="Rising percents ending at 100")
    step_seconds: float | None = None
    min_requests: int | None = None
    max_error_rate_increase: float | None = None
    max_p99_ratio: float | None = None
    max_quality_drop: float | None = None


class DeploymentIn(Strict):
    kind: Literal["single", "ab", "canary"] = "single"
    variants: list[VariantIn]
    sticky_key: str | None = Field(None, description="Record field that keeps a key on one variant")
    canary: CanaryIn | None = None


class PromoteIn(Strict):
    to: int | None = Field(None, description="A step of the canary in percent; 100: promote now")


class RollbackIn(Strict):
    reason: str = Field("", max_length=1000)


class DeploymentOut(BaseModel):
    endpoint: str
    policy: dict[str, Any]
    shadow: dict[str, dict[str, int]] = Field(
        description="Per shadow variant, this server's counters: sent, dropped, failed, "
        "agreed, disagreed"
    )


class RevisionOut(BaseModel):
    revision: int
    actor: str
    reason: str
    at: datetime
    policy: dict[str, Any]


Reader = Annotated[Principal, Depends(requires(Permission.MODELS_READ))]
Writer = Annotated[Principal, Depends(changes(Permission.MODELS_WRITE, "endpoint", "name"))]


@router.put(
    "/{name}/deployment", response_model=DeploymentOut, responses=body_responses(403, 404, 422)
)
def put_deployment(
    name: Name, body: DeploymentIn, request: Request, principal: Writer, _json: JsonBody
) -> dict:
    """Deploy a policy: every variant must name a live version of this tenant whose model
    loads; then it is stored as the endpoint's next revision."""
    services: Services = request.app.state.services
    data = body.model_dump(exclude_unset=True)
    if "canary" in data and data["canary"] is not None:
        data["canary"] = {k: v for k, v in data["canary"].items() if v is not None}
    policy = requested(name, data)
    services.deployments.check(principal.tenant_id, policy)
    _load_models(services, principal.tenant_id, policy)
    new = not endpoint_exists(services, principal.tenant_id, name)
    stored = services.deployments.put(principal.tenant_id, principal.actor, policy)
    if new:  # a new endpoint: its creator's team owns it
        claim(request, principal, "endpoint", name)
    return _status(services, principal.tenant_id, stored)


@router.get("/{name}/deployment", response_model=DeploymentOut, responses=error_responses(403, 404))
def get_deployment(name: Name, request: Request, principal: Reader) -> dict:
    services: Services = request.app.state.services
    policy = services.deployments.get(principal.tenant_id, name)
    return _status(services, principal.tenant_id, policy, changed=False)


@router.post(
    "/{name}/deployment/promote",
    response_model=DeploymentOut,
    responses=body_responses(403, 404, 409, 422),
)
def promote(
    name: Name, request: Request, principal: Writer, _json: JsonBody, body: PromoteIn | None = None
) -> dict:
    """A canary to its next step; ``{"to": 100}`` straight to full (then a single policy)."""
    services: Services = request.app.state.services
    to = None if body is None else body.to
    moved = services.deployments.promote(principal.tenant_id, principal.actor, name, to)
    return _status(services, principal.tenant_id, moved)


@router.post(
    "/{name}/deployment/rollback",
    response_model=DeploymentOut,
    responses=body_responses(403, 404, 409, 422),
)
def rollback(
    name: Name, request: Request, principal: Writer, _json: JsonBody, body: RollbackIn | None = None
) -> dict:
    """The canary to 0% and the stable version to 100% (kept in the policy, for the record)."""
    services: Services = request.app.state.services
    reason = "" if body is None else body.reason
    moved = services.deployments.rollback(principal.tenant_id, principal.actor, name, reason)
    return _status(services, principal.tenant_id, moved)


@router.get(
    "/{name}/deployment/history",
    response_model=list[RevisionOut],
    responses=error_responses(403),
)
def history(name: Name, request: Request, principal: Reader) -> list[dict]:
    return request.app.state.services.deployments.history(principal.tenant_id, name)


def _status(services: Services, tenant_id: str, policy: Policy, changed: bool = True) -> dict:
    """The policy, and this server's shadow counters (zero for a shadow not yet fed).
    After a change the resolver's entry is dropped, so this server routes by the new
    revision at once (the others within their refresh)."""
    if changed:
        services.predictor.resolver.cache.discard((tenant_id, policy.endpoint))
    counted = services.predictor.shadows.of(tenant_id, policy.endpoint)
    zero = {"sent": 0, "dropped": 0, "failed": 0, "agreed": 0, "disagreed": 0}
    shadow = {v.name: counted.get(v.name, dict(zero)) for v in policy.shadows}
    return {"endpoint": policy.endpoint, "policy": policy.to_dict(), "shadow": shadow}


def _load_models(services: Services, tenant_id: str, policy: Policy) -> None:
    """Each variant's model loaded where models run (once), or a 422 naming it: in this
    server's cache, or in a gateway on a model worker (through the predictor's runner, on
    the event loop: this route runs in a worker thread)."""
    runner = services.predictor.runner
    for variant in policy.variants:
        version = services.registry.get_version(tenant_id, variant.model, variant.version)
        signature = Signature.parse(version.signature)
        target = Target(policy.endpoint, variant.model, variant.name, version, signature)
        try:
            from_thread.run(runner.ready, tenant_id, target)
        except BackendUnavailable:
            raise
        except Exception as exc:
            said = exc.message if isinstance(exc, AilayerError) else f"{type(exc).__name__}: {exc}"
            raise InvalidInput(
                f"variant {variant.name!r}: model {variant.model!r} version {variant.version} "
                f"does not load, so it was not deployed: {said}",
                field="variants",
            ) from None
