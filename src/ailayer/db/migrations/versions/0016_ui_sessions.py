"""web console sessions: only hashes of the session and CSRF tokens are stored

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

ID = sa.String(32)
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "ui_sessions",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("tenant_id", ID, sa.ForeignKey("tenants.id"), nullable=False, index=True),
        sa.Column("key_id", sa.String(232), nullable=False, index=True),
        sa.Column("csrf_hash", sa.String(64), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False, index=True),
        sa.Column("token_principal", sa.JSON(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("ui_sessions")
