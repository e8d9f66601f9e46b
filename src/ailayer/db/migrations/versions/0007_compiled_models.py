"""models: each version's compilation record and its serve-compiled switch

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("model_versions") as batch:
        batch.add_column(sa.Column("compilation", sa.JSON, nullable=True))
        batch.add_column(
            sa.Column("serve_compiled", sa.Boolean, nullable=False, server_default=sa.true())
        )


def downgrade() -> None:
    with op.batch_alter_table("model_versions") as batch:
        batch.drop_column("serve_compiled")
        batch.drop_column("compilation")
