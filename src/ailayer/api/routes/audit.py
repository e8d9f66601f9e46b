"""Audit trail routes (admin only: the ``audit:read`` permission): verify the tenant's
hash chain, and export its entries as JSON lines for a SIEM. The list is ``GET /v1/audit``
(routes/keys.py)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC
from itertools import chain, islice
from typing import Annotated, Literal

import orjson
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse

from ailayer.api.auth import requires
from ailayer.api.errors import error_responses
from ailayer.api.params import Timestamp
from ailayer.db.engine import Database
from ailayer.governance import audit, audit_chain
from ailayer.governance.principal import Principal
from ailayer.governance.roles import Permission

router = APIRouter(tags=["audit"])
Auditor = Annotated[Principal, Depends(requires(Permission.AUDIT_READ))]
JSONL = "application/x-ndjson"  # JSON lines


@router.get("/v1/audit/verify", responses=error_responses(403))
def verify(request: Request, principal: Auditor) -> dict:
    """Walk the tenant's chain: ``ok``, entries checked, the head, and the first break
    (``seq``, ``entry_id``, ``field``, ``expected``, ``found``) or null."""
    db: Database = request.app.state.services.db
    with db.read() as conn:
        return audit_chain.verify(conn, principal.tenant_id).to_dict()


@router.get(
    "/v1/audit/export",
    response_class=StreamingResponse,
    responses={200: {"content": {JSONL: {}}}, **error_responses(403, 422)},
)
def export(
    request: Request,
    principal: Auditor,
    format: Annotated[Literal["jsonl"], Query(description="only jsonl")] = "jsonl",
    since: Annotated[
        Timestamp | None, Query(description="entries at or after (ISO 8601; naive is UTC)")
    ] = None,
) -> StreamingResponse:
    """Every entry of the tenant in chain order, one JSON object per line, with
    ``seq``, ``prev_hash`` and ``hash``."""
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    rows = audit.export(request.app.state.services.db, principal.tenant_id, since)
    first = list(islice(rows, audit_chain.PAGE))  # an outage is a 503 here, not a cut stream
    return StreamingResponse(_lines(chain(first, rows)), media_type=JSONL)


def _lines(rows: Iterator[dict]) -> Iterator[bytes]:
    for row in rows:
        yield orjson.dumps(row) + b"\n"
