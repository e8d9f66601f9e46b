"""Deployments: each endpoint's live traffic split; a canary's step and the checks the
controller judges it by; an A/B test's results with confidence intervals and verdict;
shadow counters; and promote / roll back, each behind a confirmation page.

An action's form carries the revision the person saw: the store moves the policy only
if it is still that revision (compare-and-set), so a form sent twice, or after the
controller or someone else moved the canary, changes nothing and says what happened.
Every move goes through ``DeploymentService`` like the API's, so it is audited alike.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from ailayer.bootstrap import Services
from ailayer.core.errors import InvalidInput
from ailayer.dashboard.access import (
    acts,
    can,
    form_value,
    may_change,
    reads,
    require_change,
    services_of,
)
from ailayer.dashboard.pages.page import Page
from ailayer.dashboard.render import render
from ailayer.dashboard.sections import part
from ailayer.dashboard.sessions import Session
from ailayer.governance.principal import Principal
from ailayer.governance.roles import Permission
from ailayer.monitoring.log.variant_stats import LogVariantStats
from ailayer.rollout.policy import CANARY, STABLE, Policy
from ailayer.rollout.verdict import decide

router = APIRouter()
PAGE = Page("Deployments", "/deployments", Permission.MODELS_READ, router)
Reader = Annotated[Session, Depends(reads(PAGE.permission))]
Writer = Annotated[Session, Depends(acts(Permission.MODELS_WRITE))]
ConfirmReader = Annotated[Session, Depends(reads(Permission.MODELS_WRITE))]
ACTIONS = {
    "promote": "Promote to the next step",
    "promote-full": "Promote to 100% now",
    "rollback": "Roll back",
}
HISTORY_SHOWN = 20


@router.get("/deployments", response_class=HTMLResponse)
def deployments(request: Request, session: Reader) -> HTMLResponse:
    services = services_of(request)
    principal = session.principal
    listed = part("the metadata store", services.deployments.listed, principal.tenant_id)
    if isinstance(listed, list) and principal.endpoints is not None:
        listed = [p for p in listed if p.endpoint in principal.endpoints]
    return render(request, "deployments.html", policies=listed)


@router.get("/deployments/{endpoint}", response_class=HTMLResponse)
def deployment(
    endpoint: str,
    request: Request,
    session: Reader,
    done: str = "",
    metric: str = "accuracy",
    effect: float = 0.05,
) -> HTMLResponse:
    services = services_of(request)
    principal = session.principal
    principal.require_endpoint(endpoint)
    policy = services.deployments.get(principal.tenant_id, endpoint)
    tenant = principal.tenant_id
    history = part("the metadata store", services.deployments.history, tenant, endpoint)
    return render(
        request,
        "deployment.html",
        policy=policy,
        actions=actions(services, principal, policy),
        checks=canary_checks(services, tenant, policy) if is_running_canary(policy) else None,
        experiment=experiment(services, tenant, policy, metric, effect),
        shadow=services.predictor.shadows.of(tenant, endpoint),
        history=history[:HISTORY_SHOWN] if isinstance(history, list) else history,
        done=ACTIONS.get(done, ""),
        metric=metric,
        effect=effect,
    )


@router.get("/deployments/{endpoint}/confirm/{action}", response_class=HTMLResponse)
def confirm(
    endpoint: str,
    action: Annotated[str, Path(pattern="^(promote|promote-full|rollback)$")],
    revision: int,
    request: Request,
    session: ConfirmReader,
) -> HTMLResponse:
    """The confirmation step: what will change, and the form that changes it."""
    services = services_of(request)
    principal = session.principal
    principal.require_endpoint(endpoint)
    policy = services.deployments.get(principal.tenant_id, endpoint)
    require_change(services, principal, "endpoint", endpoint)
    return render(
        request,
        "confirm.html",
        policy=policy,
        action=action,
        label=ACTIONS[action],
        revision=revision,
        stale=revision != policy.revision,
        outcome=outcome(policy, action),
    )


@router.post("/deployments/{endpoint}/{action}")
async def act(
    endpoint: str,
    action: Annotated[str, Path(pattern="^(promote|promote-full|rollback)$")],
    request: Request,
    session: Writer,
) -> Response:
    form = await request.form()
    services = services_of(request)
    principal = session.principal
    principal.require_endpoint(endpoint)
    expected = _revision(form_value(form, "revision"))
    reason = form_value(form, "reason").strip()[:1000]
    await run_in_threadpool(apply, services, principal, endpoint, action, expected, reason)
    base = request.scope.get("root_path", "").rstrip("/")
    target = f"{base}/deployments/{quote(endpoint)}?done={action}"
    return RedirectResponse(target, status_code=303)


def apply(
    services: Services, principal: Principal, endpoint: str, action: str, expected: int, reason: str
) -> Policy:
    """The move, as the API's routes make it: owner checked, compare-and-set on the
    revision the person saw, this server's routing refreshed at once."""
    require_change(services, principal, "endpoint", endpoint)
    store = services.deployments
    tenant = principal.tenant_id
    if action == "rollback":
        moved = store.rollback(tenant, principal.actor, endpoint, reason, expected=expected)
    else:
        to = 100 if action == "promote-full" else None
        moved = store.promote(tenant, principal.actor, endpoint, to, expected=expected)
    services.predictor.resolver.cache.discard((tenant, endpoint))
    return moved


def actions(services: Services, principal: Principal, policy: Policy) -> list[dict[str, Any]]:
    """The buttons this person may press now: none for a viewer, another team's
    endpoint, or a policy that is not a running canary."""
    if not is_running_canary(policy) or not can(principal, Permission.MODELS_WRITE):
        return []
    if not may_change(services, principal, "endpoint", policy.endpoint):
        return []
    names = (
        ["promote", "promote-full", "rollback"]
        if _has_next_step(policy)
        else ["promote-full", "rollback"]
    )
    return [{"action": name, "label": ACTIONS[name]} for name in names]


def is_running_canary(policy: Policy) -> bool:
    return policy.kind == "canary" and policy.state == "active" and policy.canary is not None


def _has_next_step(policy: Policy) -> bool:
    plan = policy.canary
    return plan is not None and policy.step + 1 < len(plan.steps) - 1


def outcome(policy: Policy, action: str) -> str:
    """What the action would do, in words, for the confirmation page."""
    if not is_running_canary(policy):
        return f"The policy is {policy.kind} ({policy.state}); there is no running canary."
    plan = policy.canary
    assert plan is not None
    if action == "rollback":
        return "The canary goes to 0% and the stable version to 100% at once."
    if action == "promote-full":
        return "The canary becomes the single live version (100%)."
    share = plan.steps[policy.step + 1]
    return f"The canary moves from {plan.steps[policy.step]}% to {share}% of live traffic."


def canary_checks(services: Services, tenant_id: str, policy: Policy) -> Any:
    """What the controller would decide now, from each side's stats since this step."""

    def judge() -> dict[str, Any]:
        now = datetime.now(UTC)
        variants = [policy.variant(STABLE), policy.variant(CANARY)]
        start = policy.changed_at or now
        source = LogVariantStats(services.prediction_log)
        stats = source.variant_stats(tenant_id, policy.endpoint, variants, start, now)
        decision = decide(policy, stats[STABLE], stats[CANARY], now)
        return {"decision": decision, "stats": stats, "since": start}

    return part("the prediction log", judge)


def experiment(
    services: Services, tenant_id: str, policy: Policy, metric: str, effect: float
) -> Any:
    """An A/B policy's result (None for other policies); a bad metric is said in place."""
    if policy.kind != "ab":
        return None

    def result() -> dict[str, Any]:
        try:
            found = services.experiments.result(tenant_id, policy.endpoint, metric, effect)
        except InvalidInput as exc:
            return {"error": exc.message}
        return found.to_dict()

    return part("the prediction log", result)


def _revision(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise InvalidInput("the form has no revision; reload the page", field="revision") from None
