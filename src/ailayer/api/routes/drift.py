"""Drift routes: a live endpoint's drift (JSON), its HTML report, and reference uploads."""

from __future__ import annotations

from functools import partial
from typing import Annotated

from fastapi import APIRouter, Depends, File, Query, Request, UploadFile
from fastapi.responses import HTMLResponse

from ailayer.api.auth import requires
from ailayer.api.content import MultipartBody
from ailayer.api.errors import body_responses, error_responses, html_route_error_responses
from ailayer.api.ownership import changes
from ailayer.api.params import Name, Timestamp
from ailayer.cost.page import advice_section
from ailayer.governance.principal import Principal
from ailayer.governance.roles import Permission
from ailayer.monitoring.endpoint.references import format_of, read_rows
from ailayer.monitoring.endpoint.report import endpoint_report

router = APIRouter(tags=["monitoring"])
Reader = Annotated[Principal, Depends(requires(Permission.MONITORING_READ))]
Writer = Annotated[Principal, Depends(changes(Permission.MODELS_WRITE, "model", "model"))]


@router.get(
    "/v1/monitoring/{endpoint}/drift",
    responses=error_responses(403, 404, 422),
    summary="Data and prediction drift per model version in a window of the log",
)
def drift(
    endpoint: Name,
    request: Request,
    principal: Reader,
    start: Timestamp | None = None,
    end: Timestamp | None = None,
    reference_start: Timestamp | None = None,
    reference_end: Timestamp | None = None,
) -> dict:
    """``end`` defaults to now and ``start`` to a day before. The reference is the
    version's stored one (or its training set), or the log between ``reference_start``
    and ``reference_end``. An empty window or a missing reference is reported, not an error."""
    versions = request.app.state.services.drift.report(
        principal.tenant_id,
        endpoint,
        start,
        end,
        reference_start=reference_start,
        reference_end=reference_end,
    )
    return {"endpoint": endpoint, "versions": [item.to_dict() for item in versions]}


@router.get(
    "/v1/monitoring/{endpoint}/report",
    response_class=HTMLResponse,
    responses=html_route_error_responses(403, 404, 422),
    summary="A self-contained HTML report: distributions, drift, metrics (and a "
    "recommender's ranking) over time, each version's lineage as a graph",
)
def report(
    endpoint: Name,
    request: Request,
    principal: Reader,
    start: Timestamp | None = None,
    end: Timestamp | None = None,
) -> HTMLResponse:
    services = request.app.state.services
    page = endpoint_report(
        services.drift,
        services.performance,
        services.ranking,
        principal.tenant_id,
        endpoint,
        start,
        end,
        lineage=services.lineage,
        extra=partial(advice_section, services.cost, principal.tenant_id, endpoint),
    )
    return HTMLResponse(page)


@router.post(
    "/v1/models/{model}/versions/{version}/reference",
    status_code=201,
    responses=body_responses(403, 404, 422),
    summary="Store a version's drift reference from rows (Parquet, CSV or JSON file)",
)
def upload_reference(
    model: Name,
    version: int,
    request: Request,
    principal: Writer,
    _multipart: MultipartBody,
    file: Annotated[UploadFile, File(description="Rows with the version's inputs")],
    format: Annotated[str | None, Query(description="parquet, csv or json")] = None,
) -> dict:
    """The format comes from ``format``, else the file name's extension, else its content
    type. The model's scores on the rows are profiled too, for prediction drift."""
    fmt = format or format_of(file.filename, file.content_type)
    frame = read_rows(file.file.read(), fmt)
    references = request.app.state.services.drift.references
    return references.put(principal.tenant_id, model, version, frame).to_dict()
