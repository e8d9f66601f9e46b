"""Monitoring: per endpoint, traffic per model version over the last day (from the log's
rollups), quality per hour against the value measured at training, drift per feature over
time with the reference and current distributions, concept-drift alarms, fairness per
group of a logged attribute, and explanations (global importance and one prediction's
attributions). Every part is read from the service the API's route calls."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup
from starlette.concurrency import run_in_threadpool

from ailayer.bootstrap import Services
from ailayer.core.errors import AilayerError, NotFound
from ailayer.dashboard import charts
from ailayer.dashboard.access import reads, services_of
from ailayer.dashboard.pages.overview import endpoint_names
from ailayer.dashboard.pages.page import Page
from ailayer.dashboard.reads import monitoring as reads_monitoring
from ailayer.dashboard.reads import traffic as reads_traffic
from ailayer.dashboard.reads.recent import Pending, Recent
from ailayer.dashboard.render import render
from ailayer.dashboard.sections import part
from ailayer.dashboard.sessions import Session
from ailayer.governance.principal import Principal
from ailayer.governance.roles import Permission

router = APIRouter()
PAGE = Page("Monitoring", "/monitoring", Permission.MONITORING_READ, router)
Reader = Annotated[Session, Depends(reads(PAGE.permission))]
RECENT = Recent(ttl=60.0)  # reports the log cannot pre-aggregate, per tenant and window
DAY = timedelta(days=1)


@router.get("/monitoring", response_class=HTMLResponse)
def monitoring_index(request: Request, session: Reader) -> HTMLResponse:
    services = services_of(request)
    principal = session.principal
    names = part("the metadata store", endpoint_names, services, principal)
    now = datetime.now(UTC)
    rows: Any = part(
        "the metadata store",
        partial(reads_traffic.endpoints, hour=False),
        services.rollup,
        principal.tenant_id,
        now,
    )
    if isinstance(rows, list):
        rows = {r.endpoint: r for r in rows}
    sparks = part("the metadata store", hourly_sparks, services, principal.tenant_id, now)
    return render(request, "monitoring_index.html", endpoints=names, traffic=rows, sparks=sparks)


def hourly_sparks(services: Services, tenant: str, now: datetime) -> dict[str, Markup]:
    """Each endpoint's requests per hour over the last day, as a sparkline (rollups)."""
    end = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    start = end - DAY
    found = services.rollup.series(tenant, start, end, step_seconds=3600, by=("endpoint",))
    hours = [start + timedelta(hours=i) for i in range(24)]
    sparks = {}
    for (endpoint,), points in found.items():
        per_hour = {at: w.requests for at, w in points}
        values = [float(per_hour.get(at, 0)) for at in hours]
        sparks[endpoint] = Markup(charts.sparkline(values, title=f"{endpoint}: requests per hour"))
    return sparks


@router.get("/monitoring/{endpoint}", response_class=HTMLResponse)
async def monitoring(
    endpoint: str,
    request: Request,
    session: Reader,
    attribute: Annotated[str, Query(max_length=200)] = "",
    explain: bool = False,
) -> HTMLResponse:
    services = services_of(request)
    principal = session.principal
    principal.require_endpoint(endpoint)
    known = await run_in_threadpool(endpoint_names, services, principal)
    if endpoint not in known:  # another tenant's endpoint looks like a missing one
        raise NotFound(f"endpoint {endpoint!r} not found", field="endpoint")
    values = await run_in_threadpool(_sections, services, principal, endpoint, attribute)
    explained: Any = None
    if explain:
        explained = await _explanations(services, principal.tenant_id, endpoint)
    return render(
        request,
        "monitoring.html",
        endpoint=endpoint,
        attribute=attribute,
        explain=explain,
        explained=explained,
        **values,
    )


def _sections(services: Services, principal: Principal, endpoint: str, attribute: str) -> dict:
    tenant = principal.tenant_id
    end = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
    start = end - DAY
    log = "the prediction log"
    return {
        "traffic": shown(
            "the metadata store", traffic_charts, services, tenant, endpoint, start, end
        ),
        "performance": shown(log, performance_charts, services, tenant, endpoint),
        "drift": shown(log, drift_views, services, tenant, endpoint),
        "concept": shown(
            log, reads_monitoring.concept, services.concept, RECENT, tenant, endpoint, "adwin"
        ),
        "fairness": (
            shown(log, fairness_charts, services, tenant, endpoint, attribute)
            if attribute
            else None
        ),
    }


@dataclass(frozen=True)
class Refused:
    """A part the service answered with an error (e.g. no reference yet): its message."""

    message: str
    refused: bool = True  # what templates test for


def shown(backend: str, read: Any, *args: Any) -> Any:
    """``part``, with the service's own refusals shown in their part of the page."""
    try:
        return part(backend, read, *args)
    except AilayerError as exc:
        return Refused(exc.message)


def traffic_charts(
    services: Services, tenant: str, endpoint: str, start: datetime, end: datetime
) -> dict[str, Markup] | None:
    """Requests, error rate and p99 per version and half hour (rollups)."""
    found = reads_traffic.versions(services.rollup, tenant, endpoint, start, end)
    if not found:
        return None

    def series(value: Any) -> dict[str, list]:
        return {v.label: [(p.at, value(p.totals)) for p in v.points] for v in found}

    return {
        "requests": Markup(
            charts.line_chart(series(lambda t: t.requests), title="Requests per half hour")
        ),
        "errors": Markup(
            charts.line_chart(series(lambda t: t.error_rate), title="Error rate", unit="share")
        ),
        "p99": Markup(
            charts.line_chart(series(lambda t: t.p99_ms), title="p99 latency", unit="ms")
        ),
    }


def performance_charts(services: Services, tenant: str, endpoint: str) -> Any:
    """Quality per hour over the last day, each metric against its training value."""
    found = reads_monitoring.performance(services.performance, RECENT, tenant, endpoint, "hour")
    if isinstance(found, Pending):
        return found
    return [
        {
            "label": f"{v.model} v{v.version}",
            "labelled": sum(w["labelled"] for w in v.windows),
            "charts": [
                Markup(
                    charts.line_chart(
                        {m.name: m.points},
                        title=f"{m.name} of {v.model} v{v.version} per hour",
                        reference=m.training,
                        reference_label="at training",
                    )
                )
                for m in v.metrics
            ],
        }
        for v in found
    ]


def drift_views(services: Services, tenant: str, endpoint: str) -> Any:
    """Drift over the last day per version and feature, with charts."""
    found = reads_monitoring.drift(services.drift, RECENT, tenant, endpoint)
    if isinstance(found, Pending):
        return found
    out = []
    for version in found:
        features = []
        for f in version.features:
            distribution = f.distribution
            histogram = None
            if distribution is not None:
                title = f"{f.name}: reference and current distributions"
                if distribution.edges is not None:
                    histogram = charts.histograms(
                        distribution.edges,
                        distribution.reference,
                        distribution.current,
                        title=title,
                    )
                else:
                    histogram = charts.bar_chart(
                        distribution.labels,
                        {
                            "reference": _shares(distribution.reference),
                            "current": _shares(distribution.current),
                        },
                        title=title,
                        unit="share",
                    )
            features.append(
                {
                    "view": f,
                    "over_time": Markup(
                        charts.line_chart(
                            {f.method or "statistic": f.over_time},
                            title=f"{f.name}: drift statistic per 4 hours",
                        )
                    ),
                    "histogram": Markup(histogram) if histogram else None,
                }
            )
        out.append({"version": version, "features": features})
    return out


def fairness_charts(services: Services, tenant: str, endpoint: str, attribute: str) -> Any:
    """Rates per group of ``attribute`` over the last 7 days, per version."""
    found = reads_monitoring.fairness(services.fairness, RECENT, tenant, endpoint, attribute)
    if isinstance(found, Pending):
        return found
    views, reason = found
    return {
        "reason": reason,
        "versions": [
            {
                "view": v,
                "chart": Markup(
                    charts.bar_chart(
                        v.groups,
                        {name.replace("_", " "): rates for name, rates in v.rates.items()},
                        title=f"{v.model} v{v.version}: rates per {attribute}",
                        unit="share",
                    )
                ),
            }
            for v in views
        ],
    }


async def _explanations(services: Services, tenant: str, endpoint: str) -> Any:
    try:
        found = await reads_monitoring.explanations(
            services.predictor, services.prediction_log, RECENT, tenant, endpoint
        )
    except AilayerError as exc:
        return Refused(exc.message)
    if found is None:
        return Refused("nothing is logged for the served version yet")
    names = list(found.importance)
    return {
        "view": found,
        "importance": Markup(
            charts.bar_chart(
                names,
                {"mean |attribution|": [found.importance[n] for n in names]},
                title=f"Global importance, {found.model} v{found.version}",
            )
        ),
        "attributions": Markup(
            charts.bar_chart(
                list(found.attributions),
                {"attribution": list(found.attributions.values())},
                title="Attributions of the latest logged prediction",
            )
        ),
    }


def _shares(counts: list[float]) -> list[float]:
    total = sum(counts)
    return [c / total for c in counts] if total else [0.0 for _ in counts]
