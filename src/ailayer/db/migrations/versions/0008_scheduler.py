"""scheduler: each pipeline trigger's mark and the leases that keep runs one at a time

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

ID = sa.String(32)
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "scheduler_marks",
        sa.Column("tenant_id", ID, sa.ForeignKey("tenants.id"), nullable=False),
        sa.Column("pipeline", sa.String(200), nullable=False),
        sa.Column("trigger", sa.String(500), nullable=False),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "pipeline", "trigger", name="pk_scheduler_marks"),
    )
    op.create_table(
        "scheduler_leases",
        sa.Column("tenant_id", ID, sa.ForeignKey("tenants.id"), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("holder", sa.String(200), nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "name", name="pk_scheduler_leases"),
    )


def downgrade() -> None:
    op.drop_table("scheduler_leases")
    op.drop_table("scheduler_marks")
