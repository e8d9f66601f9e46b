"""The audit log: who did what to which object, and when. Rows are only ever added."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, insert, select

from ailayer.core.clock import utcnow
from ailayer.core.ids import new_id
from ailayer.db.tables import audit_log


def record(
    conn: Connection, tenant_id: str, actor: str, action: str, target: str, **detail: Any
) -> None:
    conn.execute(
        insert(audit_log).values(
            id=new_id(),
            tenant_id=tenant_id,
            actor=actor,
            action=action,
            target=target,
            detail=detail,
            at=utcnow(),
        )
    )


def entries(
    conn: Connection, tenant_id: str, target_prefix: str = "", limit: int = 100
) -> list[dict]:
    query = (
        select(audit_log)
        .where(audit_log.c.tenant_id == tenant_id)
        .order_by(audit_log.c.at.desc(), audit_log.c.id.desc())
        .limit(limit)
    )
    if target_prefix:
        query = query.where(audit_log.c.target.startswith(target_prefix, autoescape=True))
    return [dict(row._mapping) for row in conn.execute(query)]
