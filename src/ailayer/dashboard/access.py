"""Who may see and do what in the console: the session cookie, the CSRF check on every
form, and the same permissions and team ownership rules the API applies.

Every page depends on ``reads(permission)``; every form POST on ``acts(permission)``,
which refuses a missing or wrong CSRF token before anything else (403, ``CsrfRefused``).
The checks raise the API's own errors (``Unauthenticated``, ``Forbidden``, ``NotFound``),
which ``errors.py`` turns into pages.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Request, Response
from starlette.concurrency import run_in_threadpool

from ailayer.bootstrap import Services
from ailayer.core.errors import Forbidden
from ailayer.dashboard.sessions import Session, SessionStore
from ailayer.governance.ownership import OwnershipService
from ailayer.governance.principal import Principal
from ailayer.governance.roles import Permission

COOKIE = "ailayer_session"
COOKIE_PATH = "/ui"
CSRF_FIELD = "csrf_token"


class CsrfRefused(Forbidden):
    """A form came without this session's CSRF token (an old page, or another site)."""

    code = "csrf_refused"


def forget(response: Response, name: str) -> None:
    """Drop a console cookie (same attributes as when it was set)."""
    response.delete_cookie(name, path=COOKIE_PATH, httponly=True, samesite="strict")


def services_of(request: Request) -> Services:
    return request.app.state.services


def sessions_of(request: Request) -> SessionStore:
    return request.app.state.sessions


async def signed_in(request: Request) -> Session:
    """The request's live session (read again now), kept on ``request.state`` for the
    templates; ``Unauthenticated`` sends the browser to sign in."""
    token = request.cookies.get(COOKIE)
    session = await run_in_threadpool(sessions_of(request).find, token)
    request.state.session = session
    return session


def reads(permission: Permission) -> Callable[[Request], Awaitable[Session]]:
    """A page's dependency: signed in, and the role has ``permission`` (else 403)."""

    async def dependency(request: Request) -> Session:
        session = await signed_in(request)
        session.principal.require(permission)
        return session

    dependency.__name__ = f"reads_{permission.name.lower()}"
    return dependency


def acts(permission: Permission | None) -> Callable[[Request], Awaitable[Session]]:
    """A form POST's dependency: signed in, the form carries this session's CSRF token
    (checked first), and the role has ``permission`` (None: any role, e.g. sign-out)."""

    async def dependency(request: Request) -> Session:
        session = await signed_in(request)
        form = await request.form()
        submitted = form.get(CSRF_FIELD)
        if not session.csrf_matches(submitted if isinstance(submitted, str) else None):
            raise CsrfRefused(
                "this form's security token is missing or out of date; reload the page and "
                "try again (forms from other sites are refused)"
            )
        if permission is not None:
            session.principal.require(permission)
        return session

    dependency.__name__ = f"acts_{permission.name.lower() if permission else 'signed_in'}"
    return dependency


def can(principal: Principal, permission: Permission) -> bool:
    """Whether the role holds ``permission`` (a page shows a button only then)."""
    try:
        principal.require(permission)
    except Forbidden:
        return False
    return True


def may_change(services: Services, principal: Principal, kind: str, name: str) -> bool:
    """Whether the caller's team may change this object (``governance.ownership``)."""
    try:
        OwnershipService(services.db).require_change(principal, kind, name)
    except Forbidden:
        return False
    return True


def require_change(services: Services, principal: Principal, kind: str, name: str) -> None:
    """403 naming the owner team, as the API's write routes answer."""
    OwnershipService(services.db).require_change(principal, kind, name)


def form_value(form: Any, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""
