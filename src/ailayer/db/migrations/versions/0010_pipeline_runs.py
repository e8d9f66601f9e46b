"""pipelines: runs of declared pipelines and their steps (at most one running per tenant
and pipeline)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

ID = sa.String(32)
TS = sa.DateTime(timezone=True)
RUNNING = sa.text("status = 'running'")


def upgrade() -> None:
    op.create_table(
        "pipeline_runs",
        sa.Column("id", ID, primary_key=True),
        sa.Column("tenant_id", ID, sa.ForeignKey("tenants.id"), nullable=False),
        sa.Column("pipeline", sa.String(200), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("trigger", sa.JSON, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("reproduces", ID, nullable=True),
        sa.Column("spec", sa.JSON, nullable=False),
        sa.Column("params", sa.JSON, nullable=False),
        sa.Column("seed", sa.Integer, nullable=False),
        sa.Column("code_version", sa.JSON, nullable=True),
        sa.Column("packages", sa.JSON, nullable=True),
        sa.Column("dataset_version", ID, nullable=True),
        sa.Column("dataset_sha256", sa.String(64), nullable=True),
        sa.Column("definitions", sa.JSON, nullable=True),
        sa.Column("metrics", sa.JSON, nullable=True),
        sa.Column("artifacts", sa.JSON, nullable=False),
        sa.Column("gate_report", sa.JSON, nullable=True),
        sa.Column("model", sa.String(200), nullable=True),
        sa.Column("model_version", sa.Integer, nullable=True),
        sa.Column("rollout", sa.JSON, nullable=True),
        sa.Column("current_step", sa.String(50), nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("owner", sa.JSON, nullable=True),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("heartbeat_at", TS, nullable=True),
        sa.Column("finished_at", TS, nullable=True),
    )
    op.create_index(
        "ix_pipeline_runs_tenant_pipeline",
        "pipeline_runs",
        ["tenant_id", "pipeline", "created_at"],
    )
    op.create_index(
        "uq_pipeline_runs_one_running",
        "pipeline_runs",
        ["tenant_id", "pipeline"],
        unique=True,
        sqlite_where=RUNNING,
        postgresql_where=RUNNING,
    )
    op.create_table(
        "pipeline_steps",
        sa.Column("run_id", ID, sa.ForeignKey("pipeline_runs.id"), nullable=False),
        sa.Column("name", sa.String(50), nullable=False),
        sa.Column("tenant_id", ID, sa.ForeignKey("tenants.id"), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("inputs", sa.JSON, nullable=False),
        sa.Column("outputs", sa.JSON, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("finished_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("run_id", "name", name="pk_pipeline_steps"),
    )


def downgrade() -> None:
    op.drop_table("pipeline_steps")
    op.drop_index("uq_pipeline_runs_one_running", table_name="pipeline_runs")
    op.drop_index("ix_pipeline_runs_tenant_pipeline", table_name="pipeline_runs")
    op.drop_table("pipeline_runs")
