"""Sign-in and sign-out. An API key (or, where an OIDC issuer is configured, a bearer
token) is checked exactly as the API checks it, then exchanged for a session cookie:
HttpOnly, SameSite=Strict, Path=/ui, Secure over https. The key itself is never kept.

The sign-in form has no session yet, so it carries a double-submit token: a random
value in a short-lived cookie that must equal the form's hidden field.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from ailayer.core.errors import Unauthenticated
from ailayer.core.ids import new_secret
from ailayer.dashboard.access import (
    COOKIE,
    COOKIE_PATH,
    CSRF_FIELD,
    CsrfRefused,
    acts,
    forget,
    form_value,
    services_of,
    sessions_of,
)
from ailayer.dashboard.render import render
from ailayer.dashboard.sessions import Session

SIGNIN_COOKIE = "ailayer_signin"
router = APIRouter()


@router.get("/signin")
def signin_page(request: Request, ended: int = 0, next: str = "/ui/") -> Response:
    """The form; ``ended``: say that the session ended (expired, revoked, signed out)."""
    token = new_secret()
    message = "Your session ended. Sign in again." if ended else ""
    response = render(
        request,
        "signin.html",
        message=message,
        next=safe_next(next),
        form=token,
        oidc=_oidc(request),
    )
    _cookie(request, response, SIGNIN_COOKIE, token, max_age=3600)
    return response


@router.post("/signin")
async def signin(request: Request) -> Response:
    form = await request.form()
    expected = request.cookies.get(SIGNIN_COOKIE, "")
    submitted = form_value(form, CSRF_FIELD)
    if not expected or not hmac.compare_digest(expected, submitted):
        raise CsrfRefused("the sign-in form is out of date; reload the page and sign in again")
    credential = form_value(form, "credential").strip()
    target = safe_next(form_value(form, "next"))
    try:
        principal = await services_of(request).keys.authenticate_async(credential)
    except Unauthenticated as exc:
        return render(
            request,
            "signin.html",
            401,
            message=exc.message,
            next=target,
            form=expected,
            oidc=_oidc(request),
        )
    store = sessions_of(request)
    await run_in_threadpool(store.close, request.cookies.get(COOKIE))  # one session per browser
    token = await run_in_threadpool(store.open, principal)
    response = RedirectResponse(target, status_code=303)
    _cookie(request, response, COOKIE, token, max_age=int(store.seconds))
    forget(response, SIGNIN_COOKIE)
    return response


@router.post("/signout")
async def signout(request: Request, session: Annotated[Session, Depends(acts(None))]) -> Response:
    """The session's row is deleted and the cookie dropped."""
    await run_in_threadpool(sessions_of(request).close, request.cookies.get(COOKIE))
    base = request.scope.get("root_path", "").rstrip("/")
    response = RedirectResponse(f"{base}/signin", status_code=303)
    forget(response, COOKIE)
    return response


def _oidc(request: Request) -> bool:
    return services_of(request).keys.tokens is not None


def safe_next(target: str) -> str:
    """Where to go after sign-in: a console path only (never another site)."""
    if target.startswith("/ui") and not target.startswith("//") and "\\" not in target:
        return target
    return "/ui/"


def _cookie(request: Request, response: Response, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
