"""Failures as pages: a session that ended goes back to sign-in (no data shown), another
tenant's object is the same 404 as a missing one, a refused action says why, and a
backend that is down is named (503 with ``Retry-After``)."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from starlette.exceptions import HTTPException

from ailayer.core.errors import AilayerError, BackendUnavailable, Unauthenticated
from ailayer.dashboard.access import COOKIE, CsrfRefused, forget
from ailayer.dashboard.render import render

TITLES = {
    403: "Not allowed",
    404: "Not found",
    409: "Changed meanwhile",
    422: "Not accepted",
    503: "A backend is unavailable",
}


def install(app: FastAPI) -> None:
    app.add_exception_handler(Unauthenticated, signed_out)
    app.add_exception_handler(AilayerError, failed)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, invalid)


def signed_out(request: Request, exc: Exception) -> Response:
    """Back to the sign-in page, saying the session ended; the cookie is dropped."""
    base = request.scope.get("root_path", "").rstrip("/")
    back = request.url.path if request.method == "GET" else f"{base}/"
    ended = "ended=1&" if request.cookies.get(COOKIE) else ""
    response = RedirectResponse(f"{base}/signin?{ended}next={quote(back)}", status_code=303)
    forget(response, COOKIE)
    return response


def failed(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AilayerError)
    status = exc.status if exc.status in TITLES else 500
    title = "The form was refused" if isinstance(exc, CsrfRefused) else TITLES.get(status, "Error")
    response = error_page(request, status, title, exc.message)
    if isinstance(exc, BackendUnavailable):
        response.headers["Retry-After"] = str(exc.retry_after)
    return response


def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        return error_page(request, 404, TITLES[404], "There is no such page.")
    response = error_page(request, exc.status_code, "Error", str(exc.detail))
    response.headers.update(exc.headers or {})  # e.g. a 405's Allow
    return response


def invalid(request: Request, exc: Exception) -> Response:
    """A path that names no object (a version that is not a number): not found; a bad
    query parameter: 422 naming it."""
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    if any(error["loc"][:1] == ("path",) for error in errors):
        return error_page(request, 404, TITLES[404], "There is no such page.")
    said = "; ".join(
        f"{error['loc'][-1]}: {error['msg']}" for error in errors if len(error["loc"]) > 1
    )
    return error_page(request, 422, TITLES[422], said or "the request is not valid")


def error_page(request: Request, status: int, title: str, message: str) -> Response:
    """The error page; a message that names a server path shows it relative to its store."""
    message = request.app.state.scrub_paths(message)
    return render(request, "error.html", status, title=title, message=message, code=status)
