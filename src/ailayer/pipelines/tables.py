"""Pipeline run tables, on the shared ``ailayer.db.tables.metadata``.

Created by migration ``0008_pipeline_runs``; these definitions must match it.

- ``pipeline_runs``: one row per run of a declared pipeline: its state, the process that
  owns it (and that process's heartbeat), and what it recorded: dataset version, feature
  definition revisions, code and package versions, parameters, seed, metrics, the gate
  report, the model version it registered and the hand-off to serving. A partial unique
  index keeps at most one ``running`` run per tenant and pipeline, on SQLite and
  PostgreSQL alike.
- ``pipeline_steps``: one row per step of a run: its inputs, its outputs once completed
  (what a resumed run starts from), or its error.
"""

from __future__ import annotations

from sqlalchemy import JSON, Column, ForeignKey, Index, Integer, String, Table, Text, text

from ailayer.db.tables import ID, UTCDateTime, metadata

RUNNING = "running"

pipeline_runs = Table(
    "pipeline_runs",
    metadata,
    Column("id", ID, primary_key=True),
    Column("tenant_id", ID, ForeignKey("tenants.id"), nullable=False),
    Column("pipeline", String(200), nullable=False),
    Column("status", String(20), nullable=False),
    Column("trigger", JSON, nullable=False),
    Column("actor", String(200), nullable=False),
    Column("reproduces", ID, nullable=True),
    Column("spec", JSON, nullable=False),
    Column("params", JSON, nullable=False),
    Column("seed", Integer, nullable=False),
    Column("code_version", JSON, nullable=True),
    Column("packages", JSON, nullable=True),
    Column("dataset_version", ID, nullable=True),
    Column("dataset_sha256", String(64), nullable=True),
    Column("definitions", JSON, nullable=True),
    Column("metrics", JSON, nullable=True),
    Column("artifacts", JSON, nullable=False),
    Column("gate_report", JSON, nullable=True),
    Column("model", String(200), nullable=True),
    Column("model_version", Integer, nullable=True),
    Column("rollout", JSON, nullable=True),
    Column("current_step", String(50), nullable=True),
    Column("error", Text, nullable=True),
    Column("owner", JSON, nullable=True),
    Column("attempt", Integer, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("heartbeat_at", UTCDateTime(), nullable=True),
    Column("finished_at", UTCDateTime(), nullable=True),
    Index("ix_pipeline_runs_tenant_pipeline", "tenant_id", "pipeline", "created_at"),
    Index(
        "uq_pipeline_runs_one_running",
        "tenant_id",
        "pipeline",
        unique=True,
        sqlite_where=text("status = 'running'"),
        postgresql_where=text("status = 'running'"),
    ),
)

pipeline_steps = Table(
    "pipeline_steps",
    metadata,
    Column("run_id", ID, ForeignKey("pipeline_runs.id"), primary_key=True),
    Column("name", String(50), primary_key=True),
    Column("tenant_id", ID, ForeignKey("tenants.id"), nullable=False),
    Column("position", Integer, nullable=False),
    Column("status", String(20), nullable=False),
    Column("inputs", JSON, nullable=False),
    Column("outputs", JSON, nullable=True),
    Column("error", Text, nullable=True),
    Column("attempt", Integer, nullable=False),
    Column("started_at", UTCDateTime(), nullable=False),
    Column("finished_at", UTCDateTime(), nullable=True),
)
