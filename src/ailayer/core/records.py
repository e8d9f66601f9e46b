"""The shapes a predict body may take: one record, a list of records, or
``{"records": [...]}``. One function reads them, so the serving process and the prediction
log's process (which is handed the raw body) see the same records."""

from __future__ import annotations

from typing import Any


def records_of(payload: Any) -> list[Any]:
    """The records of a parsed body (not checked: the caller validates them)."""
    if isinstance(payload, dict) and "records" in payload and len(payload) == 1:
        payload = payload["records"]
    return payload if isinstance(payload, list) else [payload]
