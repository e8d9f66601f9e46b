"""The Open Inference Protocol v2 (KServe / Triton "V2") over ailayer endpoints.

``{name}`` is an ailayer endpoint: ``/v2/models/{name}/infer`` decodes the tensors into
records and runs them through ``Predictor.predict_records``, so a v2 request follows the
endpoint's deployment policy and is logged like a ``/v1/predict`` request;
``/versions/{v}`` pins version ``v`` of the endpoint's model. Keys and tenancy are those
of ``/v1/predict`` (PREDICT; another tenant's endpoint is 404); the two health probes
need no key, like ``/healthz`` and ``/readyz``. Errors are the protocol's
``{"error": "message"}`` (see ``ailayer.api.errors``).
"""

from __future__ import annotations

import time
from typing import Annotated

import orjson
from anyio import to_thread
from fastapi import APIRouter, Depends, Path, Request, Response

import ailayer
from ailayer.api.auth import authenticate, requires
from ailayer.api.content import JsonBody
from ailayer.api.oip_schemas import (
    INFER_BODY,
    OipInferResponse,
    OipLive,
    OipModelMetadata,
    OipModelReady,
    OipReady,
    OipServerMetadata,
    oip_responses,
)
from ailayer.api.params import Name
from ailayer.api.routes.health import readyz
from ailayer.core.errors import BadRequest
from ailayer.governance.principal import Principal
from ailayer.governance.roles import Permission
from ailayer.serving import oip
from ailayer.serving.target import Target

router = APIRouter(tags=["open inference protocol v2"])
Predicting = Annotated[Principal, Depends(requires(Permission.PREDICT))]
Version = Annotated[int, Path(ge=1, le=2**31 - 1, description="A version of the model")]
BINARY_HEADER = "inference-header-content-length"


@router.get("/v2/health/live", response_model=OipLive)
async def server_live() -> dict:
    return {"live": True}


@router.get("/v2/health/ready", response_model=OipReady, responses=oip_responses())
def server_ready(request: Request) -> dict:
    """Ready when the metadata store answers (as ``/readyz``)."""
    readyz(request)
    return {"ready": True}


@router.get("/v2", response_model=OipServerMetadata, responses=oip_responses(401))
async def server_metadata(request: Request) -> dict:
    """Any valid key: the server's name, version and protocol extensions (none)."""
    await authenticate(request)
    return {"name": "ailayer", "version": ailayer.__version__, "extensions": []}


@router.get(
    "/v2/models/{name}",
    response_model=OipModelMetadata,
    responses=oip_responses(400, 401, 403, 404),
    summary="Metadata of the model version behind an endpoint",
)
async def model_metadata(name: Name, request: Request, principal: Predicting) -> dict:
    target = await _target(request, principal, name, None)
    return await _metadata(request, principal, name, target)


@router.get(
    "/v2/models/{name}/versions/{version}",
    response_model=OipModelMetadata,
    responses=oip_responses(400, 401, 403, 404),
    summary="Metadata of one version of an endpoint's model",
)
async def version_metadata(
    name: Name, version: Version, request: Request, principal: Predicting
) -> dict:
    target = await _target(request, principal, name, version)
    return await _metadata(request, principal, name, target)


@router.get(
    "/v2/models/{name}/ready",
    response_model=OipModelReady,
    responses=oip_responses(400, 401, 403, 404, 500),
    summary="Ready once the endpoint's model version is loaded (this loads it)",
)
async def model_ready(name: Name, request: Request, principal: Predicting) -> dict:
    await _loaded(request, principal, await _target(request, principal, name, None))
    return {"name": name, "ready": True}


@router.get(
    "/v2/models/{name}/versions/{version}/ready",
    response_model=OipModelReady,
    responses=oip_responses(400, 401, 403, 404, 500),
    summary="Ready once that version is loaded (this loads it)",
)
async def version_ready(
    name: Name, version: Version, request: Request, principal: Predicting
) -> dict:
    await _loaded(request, principal, await _target(request, principal, name, version))
    return {"name": name, "ready": True}


INFER_STATUSES = (400, 401, 403, 404, 413, 415, 500)


INFER_PATH = "/v2/models/{name}/infer"
INFER_VERSION_PATH = "/v2/models/{name}/versions/{version}/infer"


@router.post(
    INFER_PATH,
    response_model=OipInferResponse,
    responses=oip_responses(*INFER_STATUSES),
    openapi_extra={"requestBody": INFER_BODY},
    summary="Infer with the endpoint (its deployment policy routes the request)",
)
async def infer(name: Name, request: Request, principal: Predicting, _json: JsonBody) -> Response:
    return await infer_answer(request, principal, name, None)


@router.post(
    INFER_VERSION_PATH,
    response_model=OipInferResponse,
    responses=oip_responses(*INFER_STATUSES),
    openapi_extra={"requestBody": INFER_BODY},
    summary="Infer with one version of the endpoint's model",
)
async def infer_version(
    name: Name, version: Version, request: Request, principal: Predicting, _json: JsonBody
) -> Response:
    return await infer_answer(request, principal, name, version)


async def infer_answer(
    request: Request, principal: Principal, name: str, version: int | None
) -> Response:
    """Decode against the target's signature, predict through the endpoint, encode (once
    the key, content type and path are judged; ``ailayer.api.fastpath`` calls it too)."""
    started = time.perf_counter()
    _refuse_unsupported_encodings(request)
    parsed = oip.parse_request(await request.body())  # malformed is 400 on any name
    target = await _target(request, principal, name, version)
    records = oip.to_records(
        parsed, target.signature, open_fields=bool(target.version.feature_refs)
    )
    predictor = request.app.state.services.predictor
    answer = await predictor.predict_records(
        principal.tenant_id, name, records, started=started, version=version
    )
    declared = oip.declared_output(target.signature)
    body = oip.encode_response(answer, parsed, name, declared)
    return Response(orjson.dumps(body), media_type="application/json")


def _refuse_unsupported_encodings(request: Request) -> None:
    """Binary tensor data and compressed bodies are protocol options this server does not
    take: say so rather than fail to parse them as JSON."""
    if BINARY_HEADER in request.headers:
        raise BadRequest(
            "the binary tensor data extension is not supported; send tensor data as JSON "
            "(tritonclient: set_data_from_numpy(..., binary_data=False))",
            field="Inference-Header-Content-Length",
        )
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise BadRequest(
            f"Content-Encoding {encoding!r} is not supported; send the body uncompressed",
            field="Content-Encoding",
        )


async def _target(request: Request, principal: Principal, name: str, version: int | None) -> Target:
    predictor = request.app.state.services.predictor
    return await predictor.target(principal.tenant_id, name, version)


async def _metadata(request: Request, principal: Principal, name: str, target: Target) -> dict:
    """The target's signature as tensors; the model's versions that are not archived (one
    registry read, in a worker thread: metadata is not the hot path)."""
    registry = request.app.state.services.registry
    model = await to_thread.run_sync(registry.get_model, principal.tenant_id, target.model)
    versions = [str(v["version"]) for v in model["versions"] if not v["archived"]]
    inputs, outputs = oip.tensor_metadata(target.signature)
    return {
        "name": name,
        "versions": versions,
        "platform": target.version.flavor,
        "inputs": inputs,
        "outputs": outputs,
    }


async def _loaded(request: Request, principal: Principal, target: Target) -> None:
    """Load the target's model where it runs if no request has yet (here, in a worker
    thread; in a gateway, on a model worker): a ready model answers its first infer
    without the load."""
    await request.app.state.services.predictor.runner.ready(principal.tenant_id, target)
