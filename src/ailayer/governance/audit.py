"""The audit log: who did what to which object, when, and from which request.

Rows are only ever added, each to its tenant's hash chain (``audit_chain``), as the last
act of the caller's transaction: the entry exists exactly when the change it describes
does. The request id and source address come from the request being served
(``core.origin``); work outside a request (the CLI's set-up, background threads) records
``None`` for both.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy import Connection, insert, select

from ailayer.core.clock import utcnow
from ailayer.core.ids import new_id
from ailayer.core.origin import current_origin
from ailayer.db.engine import Database, at_commit
from ailayer.db.tables import audit_log
from ailayer.governance.audit_chain import PAGE, Head, entry_hash, lock_head, move_head


def record(
    conn: Connection, tenant_id: str, actor: str, action: str, target: str, **detail: Any
) -> None:
    """Append one entry as ``conn``'s transaction commits (``at_commit``): the tenant's
    chain head is locked only then, so appends queue briefly and never deadlock."""
    origin = current_origin()
    entry = {
        "id": new_id(),
        "tenant_id": tenant_id,
        "actor": actor,
        "action": action,
        "target": target,
        "detail": detail,
        "request_id": origin.request_id if origin else None,
        "source": origin.source if origin else None,
    }
    at_commit(conn, partial(_append, entry=entry))


def _append(conn: Connection, entry: dict[str, Any]) -> None:
    head = lock_head(conn, entry["tenant_id"])
    row = {**entry, "seq": head.seq + 1, "at": utcnow(), "prev_hash": head.hash}
    row["hash"] = entry_hash(row)
    conn.execute(insert(audit_log).values(**row))
    move_head(conn, entry["tenant_id"], Head(row["seq"], row["hash"]))


def entries(
    conn: Connection,
    tenant_id: str,
    target_prefix: str = "",
    limit: int = 100,
    *,
    actor: str | None = None,
    action_prefix: str = "",
    since: datetime | None = None,
    until: datetime | None = None,
    before_seq: int | None = None,
) -> list[dict]:
    """The tenant's latest entries, newest first, filtered by target and action prefix,
    actor, time ``[since, until)`` and (to page) sequence number below ``before_seq``."""
    t = audit_log.c
    query = select(audit_log).where(t.tenant_id == tenant_id).order_by(t.seq.desc()).limit(limit)
    if target_prefix:
        query = query.where(t.target.startswith(target_prefix, autoescape=True))
    if action_prefix:
        query = query.where(t.action.startswith(action_prefix, autoescape=True))
    if actor:
        query = query.where(t.actor == actor)
    if since is not None:
        query = query.where(t.at >= since)
    if until is not None:
        query = query.where(t.at < until)
    if before_seq is not None:
        query = query.where(t.seq < before_seq)
    return [dict(row._mapping) for row in conn.execute(query)]


def export(db: Database, tenant_id: str, since: datetime | None = None) -> Iterator[dict]:
    """Every entry of the tenant (at or after ``since``) in chain order, with its hashes,
    as JSON-ready dicts; read a page per transaction, so a long export holds no lock."""
    after = 0
    while True:
        query = (
            select(audit_log)
            .where(audit_log.c.tenant_id == tenant_id, audit_log.c.seq > after)
            .order_by(audit_log.c.seq)
            .limit(PAGE)
        )
        if since is not None:
            query = query.where(audit_log.c.at >= since)
        with db.read() as conn:
            page = conn.execute(query).all()
        for row in page:
            yield {str(name): value for name, value in row._mapping.items()} | {
                "at": row.at.isoformat()
            }
        if len(page) < PAGE:
            return
        after = page[-1].seq
