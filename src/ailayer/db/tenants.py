"""The one question every per-tenant background pass asks first: which tenants exist."""

from __future__ import annotations

from sqlalchemy import select

from ailayer.db.engine import Database
from ailayer.db.tables import tenants


def tenant_ids(db: Database) -> list[str]:
    """Every tenant's id, sorted (a pass over them visits them in a stable order)."""
    with db.read() as conn:
        return sorted(conn.execute(select(tenants.c.id)).scalars())
