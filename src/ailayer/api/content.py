"""Request content types: a route that reads a body refuses another declared type (415).

A JSON route takes ``application/json`` (any charset) and ``application/*+json``; a body
sent without a ``Content-Type`` is read as JSON, as curl and many clients send it. The
check is a dependency declared after the key's, so an unknown caller still gets 401 first.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from ailayer.core.errors import UnsupportedMediaType

JSON = "application/json"
MULTIPART = "multipart/form-data"


def media_type(request: Request) -> str | None:
    """The declared media type, lower-cased, without parameters (``None`` when absent)."""
    declared = request.headers.get("content-type")
    if declared is None or not declared.strip():
        return None
    return declared.split(";", 1)[0].strip().lower()


def is_json(media: str) -> bool:
    return media == JSON or (media.startswith("application/") and media.endswith("+json"))


def reads_as_json(request: Request) -> bool:
    """True when the body is to be parsed as JSON: declared so, or not declared at all."""
    media = media_type(request)
    return media is None or is_json(media)


def require_content(request: Request, expected: str) -> None:
    """Refuse a body declared as anything but ``expected`` (415 naming both)."""
    media = media_type(request)
    if media is None:
        return
    if is_json(media) if expected == JSON else media == expected:
        return
    declared = request.headers.get("content-type", "")
    raise UnsupportedMediaType(
        f"this route takes {expected} bodies; got Content-Type {declared!r}",
        field="content-type",
    )


async def json_content(request: Request) -> None:
    require_content(request, JSON)


async def multipart_content(request: Request) -> None:
    require_content(request, MULTIPART)


JsonBody = Annotated[None, Depends(json_content)]
MultipartBody = Annotated[None, Depends(multipart_content)]
