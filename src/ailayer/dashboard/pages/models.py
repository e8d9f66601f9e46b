"""Models and versions: each model's versions with their metrics and aliases, the
aliases' history, and per version its signature, tags, lineage graph and model card."""

from __future__ import annotations

from typing import Annotated

from anyio import to_thread
from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import HTMLResponse

from ailayer.bootstrap import model_cards
from ailayer.core.public import artifact_uri, scrubbed
from ailayer.dashboard.access import can, reads, services_of
from ailayer.dashboard.pages.page import Page
from ailayer.dashboard.render import render
from ailayer.dashboard.sections import part
from ailayer.dashboard.sessions import Session
from ailayer.governance.roles import Permission
from ailayer.monitoring.endpoint.report.lineage import svg as lineage_svg
from ailayer.pipelines import card_page
from ailayer.pipelines.card import top_features

router = APIRouter()
PAGE = Page("Models", "/models", Permission.MODELS_READ, router)
Reader = Annotated[Session, Depends(reads(PAGE.permission))]
CardReader = Annotated[Session, Depends(reads(Permission.MONITORING_READ))]
Version = Annotated[int, Path(ge=1)]
CARD_SECURITY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'"
)


@router.get("/models", response_class=HTMLResponse)
def models(request: Request, session: Reader) -> HTMLResponse:
    services = services_of(request)
    listed = part("the metadata store", services.registry.list_models, session.principal.tenant_id)
    return render(request, "models.html", models=listed)


@router.get("/models/{model}", response_class=HTMLResponse)
def model(model: str, request: Request, session: Reader) -> HTMLResponse:
    services = services_of(request)
    tenant = session.principal.tenant_id
    found = services.registry.get_model(tenant, model)  # NotFound: the 404 page
    history = part("the metadata store", services.registry.alias_history, tenant, model)
    return render(request, "model.html", model=found, alias_history=history)


@router.get("/models/{model}/versions/{version}", response_class=HTMLResponse)
def version(model: str, version: Version, request: Request, session: Reader) -> HTMLResponse:
    services = services_of(request)
    tenant = session.principal.tenant_id
    found = services.registry.get_version(tenant, model, version)
    lineage = part("the metadata store", services.lineage.of, tenant, model, version)
    if isinstance(lineage, dict):
        lineage = scrubbed(lineage, request.app.state.scrub_paths)
    graph = lineage_svg(lineage) if isinstance(lineage, dict) else None
    return render(
        request,
        "version.html",
        v=found,
        lineage=lineage,
        graph=graph,
        inputs=found.signature.get("inputs", []),
        outputs=found.signature.get("outputs", []),
        artifact=artifact_uri(found.artifact_sha256),
        card=can(session.principal, Permission.MONITORING_READ),
    )


@router.get("/models/{model}/versions/{version}/card", response_class=HTMLResponse)
async def card(model: str, version: Version, request: Request, session: CardReader) -> HTMLResponse:
    """The version's model card as the API renders it (``?format=html``), whole."""
    session.principal.require(Permission.MODELS_READ)
    services = services_of(request)
    tenant = session.principal.tenant_id
    runner = services.predictor.runner
    top = await top_features(
        services.registry, services.prediction_log, runner, tenant, model, version
    )
    built = await to_thread.run_sync(model_cards(services).card, tenant, model, version, top)
    response = HTMLResponse(card_page.render(scrubbed(built, request.app.state.scrub_paths)))
    response.headers["Content-Security-Policy"] = CARD_SECURITY
    return response
