"""Overview: every endpoint with its requests, error rate and p99 over the last hour and
day, its policy, its drift as last judged in this process, what fires now, and the lag
of the consumer groups named in ``console_topics`` (for roles that read monitoring)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import anyio.from_thread
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from ailayer.bootstrap import Services
from ailayer.dashboard.access import can, reads, services_of
from ailayer.dashboard.pages.page import Page
from ailayer.dashboard.reads import events as read_events
from ailayer.dashboard.render import render
from ailayer.dashboard.sections import Unavailable, part
from ailayer.dashboard.sessions import Session
from ailayer.dashboard.traffic import QUIET, every_endpoint
from ailayer.governance.principal import Principal
from ailayer.governance.roles import Permission
from ailayer.models.endpoints import DEFAULT_ALIAS

router = APIRouter()
PAGE = Page("Overview", "/", Permission.MODELS_READ, router)
Reader = Annotated[Session, Depends(reads(PAGE.permission))]


@router.get("/", response_class=HTMLResponse)
def overview(request: Request, session: Reader) -> HTMLResponse:
    services = services_of(request)
    principal = session.principal
    names = part("the metadata store", endpoint_names, services, principal)
    now = datetime.now(UTC)
    traffic = part("the prediction log", every_endpoint, services.rollup, principal.tenant_id, now)
    rows = (
        [] if not isinstance(names, list) else [row(services, principal, n, traffic) for n in names]
    )
    firing = part("the metadata store", services.alerts.firing, principal.tenant_id)
    return render(
        request,
        "overview.html",
        endpoints=names,
        rows=rows,
        firing=firing,
        lags=consumer_lags(services, principal),
    )


def consumer_lags(services: Services, principal: Principal) -> object:
    """The events page's group lags, or None where the role may not read monitoring or no
    topic is watched (this route runs in a worker thread: the bus is asked on the loop)."""
    if not services.settings.console_topics or not can(principal, Permission.MONITORING_READ):
        return None
    # a broker that is down is said per row by ``lags``, not raised
    return anyio.from_thread.run(read_events.lags, services.bus, services.settings.console_topics)


def endpoint_names(services: Services, principal: Principal) -> list[str]:
    """The tenant's endpoints, narrowed to a scoped key's: those routed by an alias,
    deployed, or seen in the log, and every model holding the default alias (an
    endpoint of its name answers with it)."""
    tenant = principal.tenant_id
    names = {e["name"] for e in services.endpoints.list(tenant)}
    names |= {
        m["name"] for m in services.registry.list_models(tenant) if DEFAULT_ALIAS in m["aliases"]
    }
    names |= {p.endpoint for p in services.deployments.listed(tenant)}
    logged = part("the prediction log", services.prediction_log.endpoints, tenant)
    names |= logged if isinstance(logged, set) else set()
    if principal.endpoints is not None:
        names &= principal.endpoints
    return sorted(names)


def row(services: Services, principal: Principal, endpoint: str, traffic: Any) -> dict[str, Any]:
    """``traffic``: ``every_endpoint``'s answer (or the prediction log unavailable)."""
    tenant = principal.tenant_id
    return {
        "name": endpoint,
        "traffic": traffic if isinstance(traffic, Unavailable) else traffic.get(endpoint, QUIET),
        "policy": part("the metadata store", services.deployments.active, tenant, endpoint),
        "drift": drift_status(services, tenant, endpoint),
    }


def drift_status(services: Services, tenant_id: str, endpoint: str) -> list[dict[str, Any]]:
    """Each version's latest drift report computed in this process (by /metrics, the
    monitor or a drift request), newest window first."""
    found = [
        {"model": model, "version": version, "end": end, "report": report}
        for (tenant, name, model, version), (end, report) in services.drift.latest.items()
        if tenant == tenant_id and name == endpoint
    ]
    return sorted(found, key=lambda item: item["end"], reverse=True)
