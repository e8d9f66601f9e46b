"""What the console needs to know of a page: its title and path in the navigation, the
permission a role needs to see it, and its routes."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter

from ailayer.governance.roles import Permission


@dataclass(frozen=True)
class Page:
    """``path`` is the navigation link under /ui; ``router`` holds the page's routes
    (its GET pages and any form POSTs), mounted under /ui."""

    title: str
    path: str
    permission: Permission
    router: APIRouter
