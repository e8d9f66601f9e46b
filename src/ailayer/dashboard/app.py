"""The console as an ASGI app of its own, mounted by the API app at /ui: its own error
pages, static files from the package, and headers that keep pages out of caches and
other sites' frames."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from importlib.resources import files

from fastapi import FastAPI, Request, Response
from fastapi.staticfiles import StaticFiles

from ailayer.bootstrap import Services
from ailayer.core.public import path_scrubber
from ailayer.dashboard import errors, signin
from ailayer.dashboard.pages import PAGES
from ailayer.dashboard.render import environment
from ailayer.dashboard.sessions import SessionStore

PREFIX = "/ui"
CONTENT_SECURITY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'"
)


def create_console(services: Services) -> FastAPI:
    """The console over ``services``; mount it at ``PREFIX``."""
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    app.state.services = services
    app.state.sessions = SessionStore(
        services.db, services.keys, services.settings.ui_session_seconds
    )
    app.state.templates = environment()
    app.state.scrub_paths = path_scrubber(services.settings)  # pages show no server paths
    app.state.templates.filters["scrub"] = app.state.scrub_paths
    app.state.pages = PAGES
    errors.install(app)
    static = files("ailayer.dashboard").joinpath("static")
    app.mount("/static", StaticFiles(directory=str(static)), name="static")
    app.include_router(signin.router)
    for page in PAGES:
        app.include_router(page.router)
    app.middleware("http")(_headers)
    return app


async def _headers(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    """No page is cached (signing out leaves nothing to go back to); none is framed."""
    response = await call_next(request)
    if not request.url.path.startswith(f"{PREFIX}/static/"):
        response.headers["Cache-Control"] = "no-store"
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    return response
