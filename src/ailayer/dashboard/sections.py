"""One part of a page that a backend feeds: when that backend is down, the page says
which one in that part and shows the rest (the console keeps working)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import duckdb

from ailayer.core.errors import BackendUnavailable

T = TypeVar("T")


@dataclass(frozen=True)
class Unavailable:
    """What a part of a page could not show: the backend it reads, and why."""

    backend: str
    message: str


def part(backend: str, read: Callable[..., T], *args: Any) -> T | Unavailable:
    """``read(*args)``, or ``Unavailable`` naming ``backend`` when it is down."""
    try:
        return read(*args)
    except BackendUnavailable as exc:
        return Unavailable(backend, exc.message)
    except (OSError, duckdb.IOException, duckdb.InvalidInputException) as exc:  # unreadable files
        return Unavailable(backend, f"{backend} could not be read ({type(exc).__name__})")
