"""Metadata tables (SQLAlchemy Core). Every row carries its tenant.

The schema is created and changed only by the Alembic migrations in ``migrations/``;
these definitions are what the code queries against and must match them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
    true,
)
from sqlalchemy.types import TypeDecorator

metadata = MetaData()


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every database (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given; use ailayer.core.clock.utcnow()")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


ID = String(32)

tenants = Table(
    "tenants",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("created_at", UTCDateTime(), nullable=False),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", ID, primary_key=True),
    Column("tenant_id", ID, ForeignKey("tenants.id"), nullable=False, index=True),
    Column("name", String(200), nullable=False),
    Column("prefix", String(32), nullable=False, unique=True),
    Column("secret_hash", String(64), nullable=False),
    Column("role", String(20), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("created_by", String(200), nullable=True),
    Column("revoked_at", UTCDateTime(), nullable=True),
    Column("expires_at", UTCDateTime(), nullable=True),
    Column("last_used_at", UTCDateTime(), nullable=True),
    Column("endpoints", JSON(none_as_null=True), nullable=True),  # None: every endpoint
    Column("replaced_by", String(32), nullable=True),  # the prefix that rotated it out
    Column("team", String(200), nullable=True),  # a team of the tenant (teams.name)
)

registered_models = Table(
    "registered_models",
    metadata,
    Column("id", ID, primary_key=True),
    Column("tenant_id", ID, ForeignKey("tenants.id"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("tags", JSON, nullable=False),
    Column("latest_version", Integer, nullable=False, default=0),
    Column("archived", Boolean, nullable=False, default=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    UniqueConstraint("tenant_id", "name", name="uq_registered_models_tenant_name"),
)

model_versions = Table(
    "model_versions",
    metadata,
    Column("id", ID, primary_key=True),
    Column("tenant_id", ID, ForeignKey("tenants.id"), nullable=False),
    Column("model_id", ID, ForeignKey("registered_models.id"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("flavor", String(40), nullable=False),
    Column("artifact_uri", Text, nullable=False),
    Column("artifact_sha256", String(64), nullable=False),
    Column("artifact_size", BigInteger, nullable=False),
    Column("signature", JSON, nullable=False),
    Column("params", JSON, nullable=False),
    Column("metrics", JSON, nullable=False),
    Column("tags", JSON, nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("dataset_version", String(200), nullable=True),
    Column("feature_refs", JSON, nullable=False),
    Column("code_version", String(200), nullable=True),
    Column("pipeline_run", String(200), nullable=True),
    Column("archived", Boolean, nullable=False, default=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("created_by", String(200), nullable=True),
    Column("compilation", JSON, nullable=True),
    Column("serve_compiled", Boolean, nullable=False, default=True, server_default=true()),
    UniqueConstraint("model_id", "version", name="uq_model_versions_model_version"),
)

model_aliases = Table(
    "model_aliases",
    metadata,
    Column("model_id", ID, ForeignKey("registered_models.id"), primary_key=True),
    Column("alias", String(100), primary_key=True),
    Column("tenant_id", ID, ForeignKey("tenants.id"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("updated_by", String(200), nullable=True),
)

endpoints = Table(
    "endpoints",
    metadata,
    Column("id", ID, primary_key=True),
    Column("tenant_id", ID, ForeignKey("tenants.id"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("model_name", String(200), nullable=False),
    Column("alias", String(100), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    UniqueConstraint("tenant_id", "name", name="uq_endpoints_tenant_name"),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", ID, primary_key=True),
    Column("tenant_id", ID, ForeignKey("tenants.id"), nullable=False, index=True),
    Column("actor", String(200), nullable=False),
    Column("action", String(100), nullable=False),
    Column("target", String(400), nullable=False, index=True),
    Column("detail", JSON, nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    # the tenant's hash chain (governance/audit_chain.py): position, links, origin
    Column("seq", BigInteger, nullable=False),
    Column("request_id", String(64), nullable=True),
    Column("source", String(100), nullable=True),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    UniqueConstraint("tenant_id", "seq", name="uq_audit_log_tenant_seq"),
)

audit_chain_heads = Table(
    "audit_chain_heads",
    metadata,
    # one row per tenant, locked by each append: no two entries link to one predecessor
    Column("tenant_id", ID, ForeignKey("tenants.id"), primary_key=True),
    Column("seq", BigInteger, nullable=False),
    Column("hash", String(64), nullable=False),
    # retention's anchor: entries up to base_seq were removed; base_seq + 1 links to base_hash
    Column("base_seq", BigInteger, nullable=False, server_default=text("0")),
    Column("base_hash", String(64), nullable=False, server_default="0" * 64),
)

tenant_usage = Table(
    "tenant_usage",
    metadata,
    # events accepted per tenant and UTC day, for the max_events_per_day quota
    Column("tenant_id", ID, ForeignKey("tenants.id"), primary_key=True),
    Column("day", String(10), primary_key=True),
    Column("events", BigInteger, nullable=False),
)

deployments = Table(
    "deployments",
    metadata,
    Column("tenant_id", ID, ForeignKey("tenants.id"), primary_key=True),
    Column("endpoint", String(200), primary_key=True),
    Column("kind", String(20), nullable=False),
    Column("state", String(20), nullable=False),
    Column("policy", JSON, nullable=False),
    Column("revision", Integer, nullable=False),
    Column("changed_at", UTCDateTime(), nullable=False),
    Column("changed_by", String(200), nullable=False),
)

deployment_history = Table(
    "deployment_history",
    metadata,
    Column("id", ID, primary_key=True),
    Column("tenant_id", ID, ForeignKey("tenants.id"), nullable=False),
    Column("endpoint", String(200), nullable=False),
    Column("revision", Integer, nullable=False),
    Column("policy", JSON, nullable=False),
    Column("actor", String(200), nullable=False),
    Column("reason", Text, nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    UniqueConstraint(
        "tenant_id", "endpoint", "revision", name="uq_deployment_history_tenant_endpoint_rev"
    ),
)

scheduler_marks = Table(
    "scheduler_marks",
    metadata,
    Column("tenant_id", ID, ForeignKey("tenants.id"), primary_key=True),
    Column("pipeline", String(200), primary_key=True),
    Column("trigger", String(500), primary_key=True),
    Column("value", Text, nullable=False),  # JSON text, compared as written
    Column("updated_at", UTCDateTime(), nullable=False),
)

scheduler_leases = Table(
    "scheduler_leases",
    metadata,
    Column("tenant_id", ID, ForeignKey("tenants.id"), primary_key=True),
    Column("name", String(200), primary_key=True),
    Column("holder", String(200), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
)

cost_usage = Table(  # appended by every serving process every cost_flush_seconds
    "cost_usage",
    metadata,
    Column("id", ID, primary_key=True),
    Column("tenant_id", ID, nullable=False),  # an event's tenant may name no tenant row
    Column("at", UTCDateTime(), nullable=False),  # the end of the measured period
    Column("seconds", Float, nullable=False),  # the period's length
    Column("resource", String(40), nullable=False),  # cpu_seconds, memory_byte_seconds, ...
    Column("model", String(200), nullable=False),  # "" for events
    Column("version", Integer, nullable=False),  # 0 for events
    Column("quantity", Float, nullable=False),
    Column("source", String(200), nullable=False),  # the process: host and pid
)

privacy_tombstones = Table(
    "privacy_tombstones",
    metadata,
    # erased data subjects (governance/privacy): only a salted hash of "key=value", so the
    # list itself names no one; materialization and stream writes skip what it holds
    Column("tenant_id", ID, ForeignKey("tenants.id"), primary_key=True),
    Column("subject_hash", String(80), primary_key=True),
    Column("subject_key", String(200), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)

# teams inside a tenant, and which team owns a model, endpoint, feature view or pipeline
# (governance/teams.py, governance/ownership.py); an object without a row has no owner
teams = Table(
    "teams",
    metadata,
    Column("tenant_id", ID, ForeignKey("tenants.id"), primary_key=True),
    Column("name", String(200), primary_key=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("created_by", String(200), nullable=True),
)

owners = Table(
    "owners",
    metadata,
    Column("tenant_id", ID, ForeignKey("tenants.id"), primary_key=True),
    Column("kind", String(20), primary_key=True),
    Column("name", String(200), primary_key=True),
    Column("team", String(200), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("updated_by", String(200), nullable=True),
)

# web console sessions (dashboard/sessions.py): the SHA-256 of the cookie's token and of
# its CSRF token, never the tokens; ``key_id`` is the API key's id (re-read on every page)
# or ``oidc:<sub>`` for a session opened with a bearer token, whose claims are kept in
# ``token_principal`` (there is no key row to re-read)
ui_sessions = Table(
    "ui_sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("tenant_id", ID, ForeignKey("tenants.id"), nullable=False, index=True),
    Column("key_id", String(232), nullable=False, index=True),
    Column("csrf_hash", String(64), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False, index=True),
    Column("token_principal", JSON(none_as_null=True), nullable=True),
)

log_rollups = Table(  # the prediction log per 5-minute bucket (monitoring/log/rollup.py)
    "log_rollups",
    metadata,
    Column("tenant_id", ID, ForeignKey("tenants.id"), primary_key=True),
    Column("endpoint", String(200), primary_key=True),
    Column("model", String(200), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("alias", String(200), primary_key=True),  # "" for none
    Column("bucket", BigInteger, primary_key=True),  # seconds since the epoch, bucket start
    Column("requests", BigInteger, nullable=False),
    Column("predictions", BigInteger, nullable=False),
    Column("errors", BigInteger, nullable=False),
    Column("answered", BigInteger, nullable=False),
    Column("latency_sum", Float, nullable=False),
    Column("latency_histogram", Text, nullable=False),  # JSON [bin, count, bin, count, ...]
    Column("scores", BigInteger, nullable=False),
    Column("score_sum", Float, nullable=False),
    Column("score_sumsq", Float, nullable=False),
    Column("score_min", Float, nullable=True),
    Column("score_max", Float, nullable=True),
)

log_rollup_marks = Table(  # per tenant: log parts made before `mark` (ms) are in log_rollups
    "log_rollup_marks",
    metadata,
    Column("tenant_id", ID, ForeignKey("tenants.id"), primary_key=True),
    Column("mark", BigInteger, nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)
