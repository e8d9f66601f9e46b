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
from ailayer.bootstrap import Services, model_cards
from ailayer.core.public import scrubbed
from ailayer.governance.principal import Principal
from ailayer.governance.roles import Permission
from ailayer.pipelines import card_page
from ailayer.pipelines.card import top_features

router = APIRouter(tags=["models"])
Reader = Annotated[Principal, Depends(requires(Permission.MODELS_READ))]


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
    top = await top_features(
        services.registry,
        services.prediction_log,
        services.predictor.runner,
        principal.tenant_id,
        model,
        version,
    )
    build = partial(model_cards(services).card, principal.tenant_id, model, version, top)
    card = scrubbed(await to_thread.run_sync(build), request.app.state.scrub_paths)
    if format == "html":
        return HTMLResponse(card_page.render(card))
    return JSONResponse(jsonable_encoder(card))
