"""Feature store routes: plan and apply definitions, read them, online features,
training sets and dataset versions. The tenant is always the key's."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any, Literal

import orjson
import pyarrow as pa
from fastapi import APIRouter, Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ailayer.api.auth import authenticate, requires
from ailayer.api.content import JSON, JsonBody, reads_as_json, require_content
from ailayer.api.errors import body_responses, error_responses
from ailayer.api.ownership import claim, require_change
from ailayer.api.params import Name
from ailayer.api.pii import record_raw_read, shown
from ailayer.api.schemas import Strict
from ailayer.bootstrap import Services
from ailayer.core.errors import InvalidInput
from ailayer.core.public import dataset_in_store
from ailayer.features.catalog import Selection
from ailayer.features.definitions import from_spec, kind_of
from ailayer.features.pii import selection_pii
from ailayer.governance import audit
from ailayer.governance.principal import Principal
from ailayer.governance.roles import Permission

router = APIRouter(tags=["features"])
Reader = Annotated[Principal, Depends(requires(Permission.FEATURES_READ))]
Writer = Annotated[Principal, Depends(requires(Permission.FEATURES_WRITE))]
MAX_HTTP_TRAINING_ROWS = 100_000


class DefinitionSpec(BaseModel):
    """A definition as its ``to_spec()`` writes it; the fields beyond ``kind`` depend on it."""

    model_config = ConfigDict(extra="allow")
    kind: Literal["entity", "feature_view", "on_demand_view", "feature_service"]


class DefinitionsIn(Strict):
    definitions: list[DefinitionSpec] = Field(
        description="Specs as produced by each definition's to_spec(); the whole repo."
    )


FeatureRef = Annotated[str, Field(pattern=r"^[^:\s]+:[^:\s]+$", description="view:feature")]
FeatureSelection = Annotated[
    Annotated[str, Field(min_length=1, description="A feature service name")]
    | Annotated[list[FeatureRef], Field(min_length=1)],
    Field(description="A feature service name or view:feature refs"),
]


class OnlineFeaturesIn(Strict):
    features: FeatureSelection
    entity_rows: list[dict[str, Any]]
    request_data: list[dict[str, Any]] | dict[str, Any] | None = None
    full_names: bool = False


class OnlineFeaturesOut(BaseModel):
    rows: list[dict[str, Any]]


class TrainingSetIn(Strict):
    features: FeatureSelection
    entity_rows: list[dict[str, Any]] = Field(
        description="Join keys plus the timestamp column (RFC 3339) per row"
    )
    timestamp_column: str = "event_timestamp"
    full_names: bool = False


class TrainingSetOut(BaseModel):
    dataset: dict[str, Any]
    rows: list[dict[str, Any]]


def _services(request: Request) -> Services:
    return request.app.state.services


def _definitions(body: DefinitionsIn) -> list[Any]:
    objects = []
    for index, spec in enumerate(body.definitions):
        try:
            objects.append(from_spec(spec.model_dump()))
        except InvalidInput as exc:
            raise InvalidInput(
                f"definitions[{index}]: {exc.message}", field=f"definitions[{index}]"
            ) from None
    return objects


@router.post("/v1/features/plan", responses=body_responses(403, 409, 422))
def plan(body: DefinitionsIn, request: Request, principal: Reader, _json: JsonBody) -> dict:
    """What ``apply`` would add, change and remove; changes nothing."""
    return _services(request).features.plan(principal.tenant_id, _definitions(body)).to_dict()


@router.post("/v1/features/apply", responses=body_responses(403, 409, 422))
def apply(body: DefinitionsIn, request: Request, principal: Writer, _json: JsonBody) -> dict:
    """Register the tenant's definitions; every version is kept. A feature view another
    team owns may not be changed or removed (403 naming the team); a new one is owned by
    the caller's team."""
    services = _services(request)
    registry = services.features
    definitions = _definitions(body)
    services.quotas.check_feature_views(principal.tenant_id, map(kind_of, definitions))
    planned = registry.plan(principal.tenant_id, definitions)
    for change in (*planned.changed, *planned.removed):
        if change.kind == "feature_view":
            require_change(request, principal, "feature_view", change.name)
    applied = registry.apply(principal.tenant_id, principal.actor, definitions)
    for change in applied.added:
        if change.kind == "feature_view":
            claim(request, principal, "feature_view", change.name)
    return applied.to_dict()


@router.get("/v1/features", responses=error_responses(403))
def list_definitions(request: Request, principal: Reader, kind: str | None = None) -> list[dict]:
    return _services(request).features.list(principal.tenant_id, kind)


@router.get("/v1/features/{kind}/{name}", responses=error_responses(403, 404))
def show_definition(kind: str, name: Name, request: Request, principal: Reader) -> dict:
    return _services(request).features.get(principal.tenant_id, kind, name)


@router.get("/v1/features/{kind}/{name}/versions", responses=error_responses(403, 404))
def definition_versions(kind: str, name: Name, request: Request, principal: Reader) -> list[dict]:
    return _services(request).features.versions(principal.tenant_id, kind, name)


async def serve_online_features(request: Request) -> Response:
    """``POST /v1/features/online`` as served: the same checks and answers as a FastAPI
    route with ``OnlineFeaturesIn``/``OnlineFeaturesOut`` and the ``Reader`` dependency, in
    the same order (malformed JSON 400, then the key 401/403, then the body 422), but
    without the dependency and response-model machinery: that costs more than the lookup
    itself when one entity is asked for. Errors are raised and answered by the app's
    handlers, so their bodies are the usual ones."""
    raw = await request.body()
    try:
        payload = orjson.loads(raw) if raw and reads_as_json(request) else None
    except orjson.JSONDecodeError as exc:
        error = {"type": "json_invalid", "loc": ("body",), "msg": f"JSON decode error: {exc}"}
        raise RequestValidationError([error]) from None
    principal = await authenticate(request)
    principal.require(Permission.FEATURES_READ)
    require_content(request, JSON)
    if payload is None:
        raise RequestValidationError(
            [{"type": "missing", "loc": ("body",), "msg": "Field required"}]
        )
    try:
        body = OnlineFeaturesIn.model_validate(payload)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False)) from None
    server = _services(request).feature_server
    lookup = server.lookup(
        principal.tenant_id,
        body.features,
        body.entity_rows,
        body.request_data,
        full_names=body.full_names,
    )
    rows = lookup.answer(await server.batcher.read(lookup.reads))
    if selection_pii(lookup.selection).fields:  # PII-tagged features asked for
        rows = await asyncio.to_thread(_shown_online, request, principal, lookup.selection, rows)
    return Response(orjson.dumps({"rows": rows}), media_type="application/json")


def _shown_online(
    request: Request, principal: Principal, selection: Selection, rows: list[dict]
) -> list[dict]:
    services = _services(request)
    rows, raw = shown(services, principal, selection, rows)
    if raw:
        record_raw_read(services, principal, "features/online", raw, len(rows))
    return rows


def served_by(handler: Callable[[Request], Awaitable[Response]]) -> type[APIRoute]:
    """A route class documented from its declared endpoint (body, response model, errors)
    but answered by ``handler``: the OpenAPI schema stays exact, the hot path lean."""

    class ServedBy(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Awaitable[Response]]:
            return handler

    return ServedBy


def online_features(
    body: OnlineFeaturesIn, principal: Reader, _json: JsonBody
) -> OnlineFeaturesOut:
    """Feature values for entity rows, from the online store, plus on-demand transforms.

    This signature declares the route's contract for the OpenAPI schema; requests are
    answered by ``serve_online_features``."""
    raise NotImplementedError("answered by serve_online_features (see served_by)")


# its own router, which the app includes first: matching a request against every other
# route first cost more than the lookup itself
online_router = APIRouter(tags=["features"])
online_router.add_api_route(
    "/v1/features/online",
    online_features,
    methods=["POST"],
    response_model=OnlineFeaturesOut,
    responses=body_responses(403, 404, 422),
    route_class_override=served_by(serve_online_features),
)


@router.post(
    "/v1/features/training-set",
    response_model=TrainingSetOut,
    responses=body_responses(403, 404, 422),
    summary="A point-in-time correct training set (JSON; use the SDK in-process for big ones)",
)
def training_set(body: TrainingSetIn, request: Request, principal: Writer, _json: JsonBody) -> dict:
    if len(body.entity_rows) > MAX_HTTP_TRAINING_ROWS:
        raise InvalidInput(
            f"at most {MAX_HTTP_TRAINING_ROWS} entity rows over HTTP; "
            "build larger sets in-process with OfflineStore.get_training_set",
            field="entity_rows",
        )
    entities = _entity_table(body.entity_rows, body.timestamp_column)
    table, dataset = _services(request).offline.get_training_set(
        principal.tenant_id,
        entities,
        body.features,
        timestamp_column=body.timestamp_column,
        full_names=body.full_names,
        actor=principal.actor,
    )
    services = _services(request)
    selection = services.features.catalog(principal.tenant_id).select(
        body.features, full_names=body.full_names
    )
    rows, raw = shown(services, principal, selection, table.to_pylist())
    with services.db.write() as conn:  # raw training data left the store
        audit.record(
            conn,
            principal.tenant_id,
            principal.actor,
            "dataset.read",
            f"dataset/{dataset.id}",
            rows=dataset.row_count,
            content_sha256=dataset.content_sha256,
        )
    if raw:
        record_raw_read(services, principal, f"dataset/{dataset.id}", raw, len(rows))
    public = _public_dataset(request, principal.tenant_id, dataset.to_dict())
    return {"dataset": public, "rows": rows}


@router.get("/v1/datasets/{dataset_id}", responses=error_responses(403, 404))
def dataset(dataset_id: str, request: Request, principal: Reader) -> dict:
    found = _services(request).offline.dataset(principal.tenant_id, dataset_id)
    return _public_dataset(request, principal.tenant_id, found.to_dict())


def _public_dataset(request: Request, tenant_id: str, dataset: dict[str, Any]) -> dict[str, Any]:
    """A dataset version as answers show it: located inside the tenant's offline store."""
    return dataset_in_store(dataset, _services(request).offline.tenant_root(tenant_id).url)


def _entity_table(rows: list[dict[str, Any]], timestamp_column: str) -> pa.Table:
    """Rows from JSON with their timestamps parsed, as Arrow (timestamps in UTC)."""
    parsed = []
    for index, row in enumerate(rows):
        stamp = row.get(timestamp_column)
        if not isinstance(stamp, str):
            raise InvalidInput(
                f"entity_rows[{index}].{timestamp_column} must be an RFC 3339 timestamp",
                field=timestamp_column,
            )
        try:
            when = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
        except ValueError:
            raise InvalidInput(
                f"entity_rows[{index}].{timestamp_column}: not a timestamp: {stamp!r}",
                field=timestamp_column,
            ) from None
        if when.tzinfo is None:
            raise InvalidInput(
                f"entity_rows[{index}].{timestamp_column} needs a time zone (e.g. Z)",
                field=timestamp_column,
            )
        parsed.append({**row, timestamp_column: when})
    try:
        return pa.Table.from_pylist(parsed)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise InvalidInput(f"entity_rows: {exc}", field="entity_rows") from None
