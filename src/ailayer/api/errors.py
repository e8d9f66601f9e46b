"""Errors as answers: every failure is JSON ``{"error": {code, message, field}}``."""

from __future__ import annotations

import logging

import orjson
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel

from ailayer.core.errors import AilayerError, BackendUnavailable

logger = logging.getLogger("ailayer.api")


class ErrorDetail(BaseModel):
    code: str
    message: str
    field: str | None = None
    prediction_id: str | None = None  # model_error only: the failure's row in the log


class ErrorBody(BaseModel):
    error: ErrorDetail


DESCRIPTIONS = {
    400: "Malformed request body",
    401: "Missing or invalid API key",
    403: "The key's role may not do this",
    404: "Not found (or owned by another tenant)",
    409: "Conflicts with the current state",
    413: "Request body too large",
    422: "A field is missing, unexpected or of the wrong type; `field` names it",
    500: "The model raised on this input (`model_error`, with the `prediction_id` the "
    "failure is logged under), or a stored artifact failed its integrity check",
    503: "A backend is unavailable; retry after the Retry-After seconds",
}


def error_responses(*statuses: int) -> dict[int | str, dict]:
    """OpenAPI ``responses`` entries for the error statuses a route can answer."""
    codes = (401, 503, *statuses)
    return {s: {"model": ErrorBody, "description": DESCRIPTIONS[s]} for s in sorted(set(codes))}


def json_response(body: dict, status: int, headers: dict | None = None) -> Response:
    return Response(orjson.dumps(body), status, headers, media_type="application/json")


def error_response(exc: AilayerError) -> Response:
    headers = {}
    if isinstance(exc, BackendUnavailable):
        headers["Retry-After"] = str(exc.retry_after)
    if exc.status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return json_response({"error": exc.to_dict()}, exc.status, headers)


async def _ailayer_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AilayerError)
    return error_response(exc)


async def _validation_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0]
    location = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path")]
    field = ".".join(location) or None
    message = f"{field}: {first.get('msg')}" if field else str(first.get("msg"))
    if first.get("type") == "json_invalid":
        body = {"code": "bad_request", "message": f"request body is not valid JSON: {message}"}
        return json_response({"error": body}, 400)
    body = {"code": "invalid_input", "message": message, "field": field}
    return json_response({"error": body}, 422)


async def _unexpected_error(_request: Request, exc: Exception) -> Response:
    logger.error("unhandled error while serving a request", exc_info=exc)
    body = {"code": "internal_error", "message": "internal error; the server log has details"}
    return json_response({"error": body}, 500)


def install(app: FastAPI) -> None:
    app.add_exception_handler(Exception, _unexpected_error)
    app.add_exception_handler(AilayerError, _ailayer_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
