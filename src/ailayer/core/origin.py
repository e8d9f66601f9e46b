"""Where the work in progress came from: the HTTP request's id and source address.

The API layer sets it once per request (``api/origin.py``); anything that writes a record
of what happened (the audit log) reads it without being handed the request. Outside a
request (the CLI, background threads such as the monitor or the rollout controller) there
is no origin, and records say so with ``None``.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Origin:
    """One HTTP request: the id the server gave it and the address it came from."""

    request_id: str
    source: str | None  # the client address as the ASGI server reports it; None if unknown


_current: ContextVar[Origin | None] = ContextVar("ailayer_origin", default=None)


def current_origin() -> Origin | None:
    """The request being served in this context (thread pools copy it), else ``None``."""
    return _current.get()


def set_origin(origin: Origin | None) -> object:
    """Make ``origin`` current; returns the token that ``reset_origin`` takes."""
    return _current.set(origin)


def reset_origin(token: object) -> None:
    _current.reset(token)  # type: ignore[arg-type]
