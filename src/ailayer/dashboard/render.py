"""Pages from Jinja2 templates in ``templates/``, autoescaped, with what every page shows
(who is signed in, the navigation this role may open, the CSRF token for its forms)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, StrictUndefined, pass_context, select_autoescape
from markupsafe import Markup, escape

from ailayer.dashboard.access import CSRF_FIELD, can
from ailayer.dashboard.sections import Unavailable

NONE = "\N{EN DASH}"  # shown for a value that does not exist (not zero)


def environment() -> Environment:
    """The template environment (templates are read on first use, not here)."""
    env = Environment(
        loader=PackageLoader("ailayer.dashboard", "templates"),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["percent"] = percent
    env.filters["number"] = number
    env.filters["when"] = when
    env.globals["csrf_input"] = csrf_input
    env.tests["unavailable"] = lambda value: isinstance(value, Unavailable)
    return env


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """``template`` with ``context`` and the page frame's own values."""
    session = getattr(request.state, "session", None)
    principal = session.principal if session is not None else None
    pages = request.app.state.pages
    frame = {
        "principal": principal,
        "csrf": session.csrf if session is not None else "",
        "csrf_field": CSRF_FIELD,
        "nav": [p for p in pages if principal is not None and can(principal, p.permission)],
        "path": request.url.path,
        "base": request.scope.get("root_path", "").rstrip("/"),
    }
    html = request.app.state.templates.get_template(template).render(**frame, **context)
    return HTMLResponse(html, status_code=status)


@pass_context
def csrf_input(context: Any) -> Markup:
    """The hidden field every form carries (``access.acts`` checks it)."""
    field, token = escape(context["csrf_field"]), escape(context["csrf"])
    return Markup(f'<input type="hidden" name="{field}" value="{token}">')


def percent(value: float | None, digits: int = 2) -> str:
    return NONE if value is None else f"{value * 100:.{digits}f}%"


def number(value: float | int | None, digits: int = 1) -> str:
    if value is None:
        return NONE
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.{digits}f}"


def when(value: datetime | str | None) -> Markup | str:
    """A time as ``<time>`` in UTC (console.js shows it in the reader's time zone)."""
    if value is None:
        return NONE
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    value = value.astimezone(UTC)
    shown = value.strftime("%Y-%m-%d %H:%M:%S UTC")
    return Markup(f'<time datetime="{value.isoformat()}">{shown}</time>')
