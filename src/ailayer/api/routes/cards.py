"""Model card route: ``GET /v1/models/{model}/versions/{version}/card`` as JSON, or as one
self-contained HTML page with ``?format=html``. Read access to models and to monitoring
(the card shows live drift and fairness)."""

from __future__ import annotations

from functools import partial
from typing import Annotated, Any, Literal

from anyio import to_thread
from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import HTMLResponse, JSONResponse

from ailayer.api.auth import requires
from ailayer.api.errors import error_responses
from ailayer.api.params import Name
from ailayer.api.public import scrubbed
from ailayer.bootstrap import Services
from ailayer.core.errors import AilayerError
from ailayer.governance.ownership import OwnershipService
from ailayer.governance.principal import Principal
from ailayer.governance.roles import Permission
from ailayer.models.signature import Signature
from ailayer.pipelines import card_page
from ailayer.pipelines.card import EXPLAINED_ROWS, ModelCards, importance, logged_matrix

router = APIRouter(tags=["models"])
Reader = Annotated[Principal, Depends(requires(Permission.MODELS_READ))]


def cards(services: Services) -> ModelCards:
    return ModelCards(
        services.registry,
        services.lineage,
        services.endpoints,
        services.drift,
        services.fairness,
        OwnershipService(services.db).owner,
    )


async def top_features(services: Services, tenant_id: str, model: str, version: int) -> dict:
    """Attributions of the version's recent logged inputs, computed where models run."""
    found = await to_thread.run_sync(services.registry.get_version, tenant_id, model, version)
    matrix = await to_thread.run_sync(logged_matrix, services.prediction_log, tenant_id, found)
    if matrix is None:
        return importance(None, 0)
    names = Signature.parse(found.signature).names
    rows = matrix[:EXPLAINED_ROWS]  # against all of them as the background
    runner = services.predictor.runner
    try:
        explained = await runner.explain_version(tenant_id, found, names, rows, matrix)
    except AilayerError as exc:
        return {**importance(None, len(rows)), "reason": exc.message}
    return importance(explained, len(rows))


@router.get(
    "/v1/models/{model}/versions/{version}/card",
    response_model=dict[str, Any],
    responses={
        **error_responses(403, 404),
        200: {"content": {"text/html": {}}, "description": "The card (JSON, or HTML)"},
    },
    summary="The version's model card, built from what ailayer recorded",
)
async def model_card(
    model: Name,
    version: Annotated[int, Path(ge=1)],
    request: Request,
    principal: Reader,
    format: Annotated[Literal["json", "html"], Query(description="json or html")] = "json",
) -> Any:
    """Intended use and owner, training data lineage, metrics and gates, fairness per
    declared attribute (at training and in serving), drift on each endpoint serving it,
    its top features, and the limitations these facts show."""
    principal.require(Permission.MONITORING_READ)
    services: Services = request.app.state.services
    top = await top_features(services, principal.tenant_id, model, version)
    build = partial(cards(services).card, principal.tenant_id, model, version, top)
    card = scrubbed(await to_thread.run_sync(build), request.app.state.scrub_paths)
    if format == "html":
        return HTMLResponse(card_page.render(card))
    return JSONResponse(jsonable_encoder(card))
