"""Path and query parameters shared by the routes, typed so that the OpenAPI document
states what the services check (a name's characters, an ISO 8601 time): clients,
generators and fuzzers then see the same rules the server applies."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated

from fastapi import Path
from pydantic import BeforeValidator

from ailayer.core.names import NAME_REGEX, NAME_RULE

Name = Annotated[str, Path(pattern=NAME_REGEX, max_length=100, description=NAME_RULE)]

_NUMBER = re.compile(r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*")


def _iso_8601(value: object) -> object:
    """Refuse numbers: pydantic would read ``0.5`` as seconds after 1970."""
    if isinstance(value, int | float) or (isinstance(value, str) and _NUMBER.fullmatch(value)):
        raise ValueError("must be an ISO 8601 time such as 2026-12-05T10:00:00Z")
    return value


Timestamp = Annotated[datetime, BeforeValidator(_iso_8601)]
