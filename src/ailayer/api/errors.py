"""Errors as answers: every failure is JSON ``{"error": {code, message, field}}``; under
``/v2`` (the Open Inference Protocol) it is that protocol's ``{"error": "message"}``."""

from __future__ import annotations

import logging
from collections.abc import Callable

import orjson
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel
from starlette.exceptions import HTTPException
from starlette.routing import Match
from starlette.types import Scope

from ailayer.core.errors import AilayerError, BackendUnavailable, RateLimited

logger = logging.getLogger("ailayer.api")


class ErrorDetail(BaseModel):
    code: str
    message: str
    field: str | None = None
    prediction_id: str | None = None  # model_error only: the failure's row in the log


class ErrorBody(BaseModel):
    error: ErrorDetail


DESCRIPTIONS = {
    400: "Malformed request body (not valid JSON, or a broken multipart form)",
    401: "Missing or invalid API key",
    403: "The key's role may not do this, or a tenant quota is used up (`quota_exceeded`, "
    "`field` names the quota)",
    404: "Not found (or owned by another tenant)",
    409: "Conflicts with the current state",
    413: "Request body too large",
    415: "The body's Content-Type is not the one this route takes (the message names it)",
    429: "Over the tenant's or the key's request rate; retry after the Retry-After seconds",
    422: "A field is missing, unexpected or of the wrong type; `field` names it",
    500: "The model raised on this input (`model_error`, with the `prediction_id` the "
    "failure is logged under), or a stored artifact failed its integrity check",
    503: "A backend is unavailable; retry after the Retry-After seconds",
}


def error_responses(*statuses: int) -> dict[int | str, dict]:
    """OpenAPI ``responses`` entries for the error statuses a route can answer."""
    codes = (401, 429, 503, *statuses)
    return {s: {"model": ErrorBody, "description": DESCRIPTIONS[s]} for s in sorted(set(codes))}


def html_route_error_responses(*statuses: int) -> dict[int | str, dict]:
    """``error_responses`` for a route whose success is HTML: errors are still JSON (FastAPI
    would document them under the route's media type)."""
    schema = {"$ref": "#/components/schemas/ErrorBody"}
    return {
        status: {
            "description": entry["description"],
            "content": {"application/json": {"schema": schema}},
        }
        for status, entry in error_responses(*statuses).items()
    }


def body_responses(*statuses: int) -> dict[int | str, dict]:
    """``error_responses`` for a route that takes a body: malformed (400), too large
    (413) and of another content type (415) come with it."""
    return error_responses(400, 413, 415, *statuses)


def json_response(body: dict, status: int, headers: dict | None = None) -> Response:
    return Response(orjson.dumps(body), status, headers, media_type="application/json")


OIP_PREFIX = "/v2"


def speaks_oip(path: str | None) -> bool:
    """Is ``path`` an Open Inference Protocol v2 route (or under its prefix)?"""
    return path is not None and (path == OIP_PREFIX or path.startswith(OIP_PREFIX + "/"))


def shaped_error(body: dict, status: int, headers: dict | None, path: str | None) -> Response:
    """An error ``body`` ({code, message, ...}) in the shape the path's protocol answers:
    v2 clients read ``{"error": "message"}`` and know 400, not 422, for a bad request."""
    if speaks_oip(path):
        return json_response({"error": body["message"]}, 400 if status == 422 else status, headers)
    return json_response({"error": body}, status, headers)


def error_response(
    exc: AilayerError, scrub: Callable[[str], str] | None = None, path: str | None = None
) -> Response:
    """The answer for ``exc`` to a request for ``path``; ``scrub`` rewrites server paths
    out of its message."""
    headers = {}
    if isinstance(exc, (BackendUnavailable, RateLimited)):
        headers["Retry-After"] = str(exc.retry_after)
    if exc.status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    body = exc.to_dict()
    if scrub is not None:
        body["message"] = scrub(body["message"])
    return shaped_error(body, exc.status, headers, path)


async def _ailayer_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AilayerError)
    scrub = getattr(request.app.state, "scrub_paths", None)
    return error_response(exc, scrub, request.scope["path"])


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0]
    location = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path")]
    field = ".".join(location) or None
    message = f"{field}: {first.get('msg')}" if field else str(first.get("msg"))
    path = request.scope["path"]
    if first.get("type") == "json_invalid":
        body = {"code": "bad_request", "message": f"request body is not valid JSON: {message}"}
        return shaped_error(body, 400, None, path)
    body = {"code": "invalid_input", "message": message, "field": field}
    return shaped_error(body, 422, None, path)


HTTP_CODES = {400: "bad_request", 404: "not_found", 405: "method_not_allowed"}
PROBED_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


async def _http_error(request: Request, exc: Exception) -> Response:
    """Routing and parsing failures (404, 405, a broken multipart body) in the usual shape;
    a 405's ``Allow`` lists every method the path has, across all its routes."""
    assert isinstance(exc, HTTPException)
    headers = dict(exc.headers or {})
    message = str(exc.detail)
    if exc.status_code == 405:
        headers["Allow"] = ", ".join(allowed_methods(request))
        message = f"{request.method} is not allowed on this path; it takes {headers['Allow']}"
    elif exc.status_code == 404 and message == "Not Found":
        message = f"no route for {request.method} {request.url.path}"
    code = HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}")
    body = {"code": code, "message": message}
    return shaped_error(body, exc.status_code, headers, request.scope["path"])


def allowed_methods(request: Request) -> list[str]:
    """The methods some route of the app answers on this request's path."""
    routes = request.app.router.routes
    found = []
    for method in PROBED_METHODS:
        probe: Scope = {**request.scope, "method": method}
        if any(route.matches(probe)[0] == Match.FULL for route in routes):
            found.append(method)
    return found


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    logger.error("unhandled error while serving a request", exc_info=exc)
    body = {"code": "internal_error", "message": "internal error; the server log has details"}
    return shaped_error(body, 500, None, request.scope["path"])


def install(app: FastAPI) -> None:
    app.add_exception_handler(Exception, _unexpected_error)
    app.add_exception_handler(AilayerError, _ailayer_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
