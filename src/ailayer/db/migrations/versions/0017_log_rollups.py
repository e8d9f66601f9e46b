"""log_rollups: the prediction log pre-aggregated per 5-minute bucket, and each tenant's
mark of the log parts counted so far

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

ID = sa.String(32)
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "log_rollups",
        sa.Column("tenant_id", ID, sa.ForeignKey("tenants.id"), primary_key=True),
        sa.Column("endpoint", sa.String(200), primary_key=True),
        sa.Column("model", sa.String(200), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("alias", sa.String(200), primary_key=True),
        sa.Column("bucket", sa.BigInteger, primary_key=True),
        sa.Column("requests", sa.BigInteger, nullable=False),
        sa.Column("predictions", sa.BigInteger, nullable=False),
        sa.Column("errors", sa.BigInteger, nullable=False),
        sa.Column("answered", sa.BigInteger, nullable=False),
        sa.Column("latency_sum", sa.Float, nullable=False),
        sa.Column("latency_histogram", sa.Text, nullable=False),
        sa.Column("scores", sa.BigInteger, nullable=False),
        sa.Column("score_sum", sa.Float, nullable=False),
        sa.Column("score_sumsq", sa.Float, nullable=False),
        sa.Column("score_min", sa.Float, nullable=True),
        sa.Column("score_max", sa.Float, nullable=True),
    )
    op.create_index("ix_log_rollups_tenant_bucket", "log_rollups", ["tenant_id", "bucket"])
    op.create_table(
        "log_rollup_marks",
        sa.Column("tenant_id", ID, sa.ForeignKey("tenants.id"), primary_key=True),
        sa.Column("mark", sa.BigInteger, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("log_rollup_marks")
    op.drop_index("ix_log_rollups_tenant_bucket", table_name="log_rollups")
    op.drop_table("log_rollups")
