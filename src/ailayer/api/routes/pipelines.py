"""Pipeline routes: start a run of a declared pipeline, and follow it.

    POST /v1/pipelines/{name}/runs   start a run (202; it works in this server's background)
    GET  /v1/pipelines/{name}/runs   the pipeline's runs, newest first
    GET  /v1/pipelines/runs/{id}     one run: its record and each step's inputs and outputs
    POST /v1/pipelines/runs/{id}/resume   carry a failed or interrupted run on (202)
    GET  /v1/lineage/{model}/{version}   sources → feature views → dataset → run → version
                                         → deployments

Pipelines are those declared in the server's ``feature_repo``. A second run of a
pipeline while one is running is refused (409 naming the running one).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel

from ailayer.api.auth import requires
from ailayer.api.errors import error_responses
from ailayer.api.ownership import require_change
from ailayer.api.params import Name
from ailayer.governance.principal import Principal
from ailayer.governance.roles import Permission
from ailayer.pipelines.runner import PipelineService

router = APIRouter(prefix="/v1/pipelines", tags=["pipelines"])
lineage_router = APIRouter(prefix="/v1/lineage", tags=["pipelines"])
Reader = Annotated[Principal, Depends(requires(Permission.MODELS_READ))]
Writer = Annotated[Principal, Depends(requires(Permission.MODELS_WRITE))]
RunId = Annotated[str, Path(pattern="^[0-9a-f]{32}$", description="A run id (32 hex digits)")]


class StepOut(BaseModel):
    name: str
    position: int
    status: str
    inputs: dict[str, Any]
    outputs: dict[str, Any] | None
    error: str | None
    attempt: int
    started_at: datetime
    finished_at: datetime | None


class RunOut(BaseModel):
    id: str
    pipeline: str
    status: str
    trigger: dict[str, Any]
    actor: str
    reproduces: str | None
    params: dict[str, Any]
    seed: int
    code_version: dict[str, Any] | None
    packages: dict[str, str] | None
    dataset_version: str | None
    dataset_sha256: str | None
    definitions: dict[str, Any] | None
    metrics: dict[str, float] | None
    artifacts: dict[str, Any]
    gate_report: dict[str, Any] | None
    model: str | None
    model_version: int | None
    rollout: dict[str, Any] | None
    current_step: str | None
    error: str | None
    attempt: int
    created_at: datetime
    finished_at: datetime | None
    steps: list[StepOut]


def _pipelines(request: Request) -> PipelineService:
    return request.app.state.services.pipelines


def _require_change(request: Request, principal: Principal, name: str) -> None:
    """A run changes its pipeline, registers its model and deploys to its endpoint: the
    caller must be allowed to change all three (403 naming the owner team otherwise)."""
    pipeline = _pipelines(request).pipelines.get(name)
    require_change(request, principal, "pipeline", pipeline.name)
    require_change(request, principal, "model", pipeline.model)
    if pipeline.endpoint is not None:
        require_change(request, principal, "endpoint", pipeline.endpoint)


def _shown(request: Request, value: Any) -> Any:
    """``value`` with the server's paths rewritten in every string (a step's error may
    quote a file): answers never show where the server keeps things."""
    scrub = request.app.state.scrub_paths
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {k: _shown(request, v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shown(request, v) for v in value]
    return value


@router.post(
    "/{name}/runs", response_model=RunOut, status_code=202, responses=error_responses(403, 409, 422)
)
def start_run(name: Name, request: Request, principal: Writer) -> dict:
    """Start a run; it works in the background (follow it at /v1/pipelines/runs/{id})."""
    service = _pipelines(request)
    _require_change(request, principal, name)
    trigger = {"kind": "api", "key": principal.actor}
    run_id = service.launch(principal.tenant_id, name, trigger=trigger, actor=principal.actor)
    return _shown(request, service.runs.get(principal.tenant_id, run_id).to_dict())


@router.get("/{name}/runs", response_model=list[RunOut], responses=error_responses(403))
def list_runs(
    name: Name,
    request: Request,
    principal: Reader,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[dict]:
    runs = _pipelines(request).runs.list(principal.tenant_id, name, limit)
    return [_shown(request, run.to_dict()) for run in runs]


@router.get("/runs/{run_id}", response_model=RunOut, responses=error_responses(403, 404))
def get_run(run_id: RunId, request: Request, principal: Reader) -> dict:
    return _shown(request, _pipelines(request).runs.get(principal.tenant_id, run_id).to_dict())


@router.post(
    "/runs/{run_id}/resume",
    response_model=RunOut,
    status_code=202,
    responses=error_responses(403, 404, 409, 422),
)
def resume_run(run_id: RunId, request: Request, principal: Writer) -> dict:
    """Carry a failed or interrupted run on from its first step that did not complete."""
    service = _pipelines(request)
    _require_change(request, principal, service.runs.get(principal.tenant_id, run_id).pipeline)
    service.launch_resume(principal.tenant_id, run_id, actor=principal.actor)
    return _shown(request, service.runs.get(principal.tenant_id, run_id).to_dict())


@lineage_router.get(
    "/{model}/{version}", response_model=dict[str, Any], responses=error_responses(403, 404)
)
def lineage(
    model: Name, version: Annotated[int, Path(ge=1)], request: Request, principal: Reader
) -> dict:
    """Where the version came from and where it serves, link by link (null: never recorded)."""
    found = request.app.state.services.lineage.of(principal.tenant_id, model, version)
    return _shown(request, found)
