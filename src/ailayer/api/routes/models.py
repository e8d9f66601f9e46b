"""Registry routes: upload versions, list and show models, move aliases, archive."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from pydantic import ValidationError

from ailayer.api.auth import requires
from ailayer.api.content import JsonBody, MultipartBody
from ailayer.api.errors import body_responses, error_responses
from ailayer.api.ownership import changes, claim
from ailayer.api.params import Name
from ailayer.api.schemas import (
    AliasIn,
    AliasOut,
    AuditEntry,
    ModelDetail,
    ModelSummary,
    ModelVersionOut,
    QuantizedOut,
    QuantizeIn,
    ServingIn,
    VersionMetadata,
)
from ailayer.core.errors import InvalidInput
from ailayer.governance.principal import Principal
from ailayer.governance.roles import Permission
from ailayer.models.quantization import quantize_version
from ailayer.models.service import ModelRegistry, NewVersion

router = APIRouter(prefix="/v1/models", tags=["models"])
Reader = Annotated[Principal, Depends(requires(Permission.MODELS_READ))]
# a change to one model: the write permission, and the caller may change that model
Writer = Annotated[Principal, Depends(changes(Permission.MODELS_WRITE, "model", "model"))]


def _registry(request: Request) -> ModelRegistry:
    return request.app.state.services.registry


def _metadata(raw: str) -> VersionMetadata:
    try:
        return VersionMetadata.model_validate_json(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "metadata"
        raise InvalidInput(f"metadata.{field}: {first['msg']}", field=field) from None


@router.get("", response_model=list[ModelSummary], responses=error_responses(403))
def list_models(request: Request, principal: Reader) -> list[dict]:
    return _registry(request).list_models(principal.tenant_id)


@router.get("/{model}", response_model=ModelDetail, responses=error_responses(403, 404))
def show_model(model: Name, request: Request, principal: Reader) -> dict:
    return _registry(request).get_model(principal.tenant_id, model)


@router.post(
    "/{model}/versions",
    response_model=ModelVersionOut,
    status_code=201,
    responses=body_responses(403, 404, 409, 422),
    summary="Register a new version (multipart: `artifact` file + `metadata` JSON)",
)
def register_version(
    model: Name,
    request: Request,
    principal: Writer,
    _multipart: MultipartBody,
    artifact: Annotated[UploadFile, File(description="The model file")],
    metadata: Annotated[str, Form(description="VersionMetadata as JSON")],
) -> dict:
    meta = _metadata(metadata)
    content = artifact.file.read()
    request.app.state.services.quotas.check_model_version(principal.tenant_id, model, len(content))
    new = NewVersion(
        model=model,
        artifact=content,
        **meta.model_dump(exclude={"signature"}),
        signature=meta.signature.model_dump(),
    )
    registered = _registry(request).register(principal.tenant_id, principal.actor, new)
    if registered.version == 1:  # a new model: its creator's team owns it
        claim(request, principal, "model", model)
    return registered.to_dict()


@router.get(
    "/{model}/versions/{version}",
    response_model=ModelVersionOut,
    responses=error_responses(403, 404),
)
def show_version(model: Name, version: int, request: Request, principal: Reader) -> dict:
    return _registry(request).get_version(principal.tenant_id, model, version).to_dict()


@router.post(
    "/{model}/versions/{version}/archive",
    response_model=ModelVersionOut,
    responses=error_responses(403, 404, 409),
)
def archive_version(model: Name, version: int, request: Request, principal: Writer) -> dict:
    registry = _registry(request)
    return registry.archive_version(principal.tenant_id, principal.actor, model, version).to_dict()


@router.post(
    "/{model}/versions/{version}/serving",
    response_model=ModelVersionOut,
    responses=body_responses(403, 404, 409, 422),
    summary="Serve the version's compiled form or its original (audited)",
)
def set_serving(
    model: Name, version: int, body: ServingIn, request: Request, principal: Writer, _json: JsonBody
) -> dict:
    """The version's next load uses the chosen form: its model-cache key names the served
    artifact. This server re-resolves its endpoints at once, the others within their
    routing refresh (1 s)."""
    services = request.app.state.services
    changed = services.registry.set_serving(
        principal.tenant_id, principal.actor, model, version, body.compiled
    )
    services.predictor.resolver.cache.clear()
    return changed.to_dict()


@router.post(
    "/{model}/versions/{version}/quantize",
    response_model=QuantizedOut,
    responses=body_responses(403, 404, 422),
    summary="Register the version's int8-quantized variant, with its measured deltas",
)
def quantize(
    model: Name,
    version: int,
    body: QuantizeIn,
    request: Request,
    principal: Writer,
    _json: JsonBody,
) -> dict:
    """A new version of the same model: the ONNX graph with int8 weights (dynamic
    quantization), its size, one-row latency and batch time against the original, its
    agreement on a validation sample and, with ``holdout`` records and their ``label``,
    both accuracies. A model with nothing to quantize (trees, linear models) is a 422
    naming ``flavor``, with the reason."""
    registered, result = quantize_version(
        _registry(request),
        principal.tenant_id,
        principal.actor,
        model,
        version,
        body.holdout,
        body.label,
    )
    return {"version": registered.to_dict(), "source": result.source, "deltas": result.deltas}


@router.put(
    "/{model}/aliases/{alias}",
    response_model=AliasOut,
    responses=body_responses(403, 404, 409, 422),
    summary="Point an alias at a version (atomic; recorded in the audit trail)",
)
def set_alias(
    model: Name, alias: Name, body: AliasIn, request: Request, principal: Writer, _json: JsonBody
) -> dict:
    registry = _registry(request)
    return registry.set_alias(principal.tenant_id, principal.actor, model, alias, body.version)


@router.get(
    "/{model}/alias-history", response_model=list[AuditEntry], responses=error_responses(403, 404)
)
def alias_history(model: Name, request: Request, principal: Reader) -> list[dict]:
    return _registry(request).alias_history(principal.tenant_id, model)
