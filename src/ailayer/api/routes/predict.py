"""``POST /v1/predict/{endpoint}``: the hot path.

The route is declared here for the OpenAPI document and for requests the fast path
hands over (a path or query FastAPI must judge); the usual request is answered by
``ailayer.api.fastpath`` with the same ``answer``, without the dependency graph."""

from __future__ import annotations

from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, Request, Response

from ailayer.api.auth import requires
from ailayer.api.content import JsonBody
from ailayer.api.errors import body_responses
from ailayer.api.params import Name
from ailayer.api.schemas import PREDICT_BODY, PredictResponse
from ailayer.governance.principal import Principal
from ailayer.governance.roles import Permission

router = APIRouter(tags=["predictions"])
PATH = "/v1/predict/{endpoint}"


@router.post(
    PATH,
    response_model=PredictResponse,
    responses=body_responses(403, 404, 422, 500),
    openapi_extra={"requestBody": PREDICT_BODY},
    summary="Predict with the model version behind an endpoint",
)
async def predict(
    endpoint: Name,
    request: Request,
    principal: Annotated[Principal, Depends(requires(Permission.PREDICT))],
    _json: JsonBody,
    explain_features: bool = False,
    explain: bool = False,
    columns: bool = False,
) -> Response:
    """Records carry model inputs, or, for a version with ``feature_refs``, entity keys and
    request fields; ``explain_features=true`` adds the feature values each prediction used,
    ``explain=true`` each prediction's feature attributions (see docs/monitoring.md);
    ``columns=true`` answers with ``columns`` (each field's values in the records' order)
    instead of ``predictions`` (an object per record): the same values, leaner for
    batches (see docs/serving.md)."""
    return await answer(request, principal, endpoint, explain_features, explain, columns)


async def answer(
    request: Request,
    principal: Principal,
    endpoint: str,
    explain_features: bool,
    explain: bool,
    columns: bool = False,
) -> Response:
    """The answer once the key, content type and parameters are judged."""
    body = await request.body()
    result = await request.app.state.services.predictor.predict(
        principal.tenant_id,
        endpoint,
        body,
        explain_features=explain_features,
        explain=explain,
        by_column=columns,
    )
    return Response(orjson.dumps(result), media_type="application/json")
