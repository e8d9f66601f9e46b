"""tenant_usage (events a day per tenant, for the quota) and the audit chain's retention
anchor (base_seq, base_hash: where the chain starts once older entries were removed)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

ID = sa.String(32)
GENESIS = "0" * 64


def upgrade() -> None:
    op.create_table(
        "tenant_usage",
        sa.Column("tenant_id", ID, sa.ForeignKey("tenants.id"), primary_key=True),
        sa.Column("day", sa.String(10), primary_key=True),
        sa.Column("events", sa.BigInteger, nullable=False),
    )
    with op.batch_alter_table("audit_chain_heads") as batch:
        batch.add_column(
            sa.Column("base_seq", sa.BigInteger, nullable=False, server_default=sa.text("0"))
        )
        batch.add_column(
            sa.Column("base_hash", sa.String(64), nullable=False, server_default=GENESIS)
        )


def downgrade() -> None:
    with op.batch_alter_table("audit_chain_heads") as batch:
        batch.drop_column("base_hash")
        batch.drop_column("base_seq")
    op.drop_table("tenant_usage")
