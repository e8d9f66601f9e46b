"""cost_usage: measured usage (CPU seconds, model memory, events) per tenant and model

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

ID = sa.String(32)
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "cost_usage",
        sa.Column("id", ID, primary_key=True),
        sa.Column("tenant_id", ID, nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("seconds", sa.Float, nullable=False),
        sa.Column("resource", sa.String(40), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("quantity", sa.Float, nullable=False),
        sa.Column("source", sa.String(200), nullable=False),
    )
    op.create_index("ix_cost_usage_tenant_at", "cost_usage", ["tenant_id", "at"])


def downgrade() -> None:
    op.drop_index("ix_cost_usage_tenant_at", table_name="cost_usage")
    op.drop_table("cost_usage")
