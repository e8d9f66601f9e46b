"""audit: per-tenant hash chain, request id and source address of each entry

Entries written before this revision are chained here, per tenant in the order they were
written (time, then id, which is time-ordered), from the genesis hash: so the whole
history is covered, and its request id and source are null (never recorded). The hash
below is frozen as of this revision; ``ailayer.governance.audit_chain.canonical`` must
give the same bytes (a test checks that a chain made here verifies).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""

import hashlib
import json
from datetime import UTC

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

ID = sa.String(32)
GENESIS = "0" * 64

entries = sa.table(
    "audit_log",
    sa.column("id", ID),
    sa.column("tenant_id", ID),
    sa.column("actor", sa.String),
    sa.column("action", sa.String),
    sa.column("target", sa.String),
    sa.column("detail", sa.JSON),
    sa.column("at", sa.DateTime(timezone=True)),
    sa.column("seq", sa.BigInteger),
    sa.column("prev_hash", sa.String),
    sa.column("hash", sa.String),
)
heads = sa.table(
    "audit_chain_heads",
    sa.column("tenant_id", ID),
    sa.column("seq", sa.BigInteger),
    sa.column("hash", sa.String),
)


def upgrade() -> None:
    op.create_table(
        "audit_chain_heads",
        sa.Column("tenant_id", ID, sa.ForeignKey("tenants.id"), primary_key=True),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    with op.batch_alter_table("audit_log") as batch:
        batch.add_column(sa.Column("seq", sa.BigInteger, nullable=True))
        batch.add_column(sa.Column("request_id", sa.String(64), nullable=True))
        batch.add_column(sa.Column("source", sa.String(100), nullable=True))
        batch.add_column(sa.Column("prev_hash", sa.String(64), nullable=True))
        batch.add_column(sa.Column("hash", sa.String(64), nullable=True))
    conn = op.get_bind()
    tenants = conn.execute(sa.select(entries.c.tenant_id).distinct()).scalars().all()
    for tenant_id in tenants:
        _chain(conn, tenant_id)
    with op.batch_alter_table("audit_log") as batch:
        batch.alter_column("seq", existing_type=sa.BigInteger, nullable=False)
        batch.alter_column("prev_hash", existing_type=sa.String(64), nullable=False)
        batch.alter_column("hash", existing_type=sa.String(64), nullable=False)
        batch.create_unique_constraint("uq_audit_log_tenant_seq", ["tenant_id", "seq"])


def _chain(conn: sa.Connection, tenant_id: str) -> None:
    rows = conn.execute(
        sa.select(entries)
        .where(entries.c.tenant_id == tenant_id)
        .order_by(entries.c.at, entries.c.id)
    ).all()
    previous = GENESIS
    for seq, row in enumerate(rows, start=1):
        content = {**row._mapping, "seq": seq, "request_id": None, "source": None}
        content["prev_hash"] = previous
        digest = hashlib.sha256(_canonical(content)).hexdigest()
        conn.execute(
            entries.update()
            .where(entries.c.id == row.id)
            .values(seq=seq, prev_hash=previous, hash=digest)
        )
        previous = digest
    conn.execute(heads.insert().values(tenant_id=tenant_id, seq=len(rows), hash=previous))


def _canonical(row: dict) -> bytes:
    at = row["at"]
    at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    fields = ("id", "tenant_id", "actor", "action", "target", "detail")
    content = {name: row[name] for name in fields}
    content.update(
        seq=int(row["seq"]),
        at=at.isoformat(timespec="microseconds"),
        request_id=row["request_id"],
        source=row["source"],
        prev_hash=row["prev_hash"],
    )
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def downgrade() -> None:
    with op.batch_alter_table("audit_log") as batch:
        batch.drop_constraint("uq_audit_log_tenant_seq", type_="unique")
        for name in ("hash", "prev_hash", "source", "request_id", "seq"):
            batch.drop_column(name)
    op.drop_table("audit_chain_heads")
