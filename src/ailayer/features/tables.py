"""Feature store metadata tables, on the shared ``ailayer.db.tables.metadata``.

Created by migration ``0002_features``; these definitions must match it.

- ``feature_objects``: the current spec of each applied definition, per tenant and kind;
  ``active`` is false once a later apply removed it (its history stays).
- ``feature_object_revisions``: every spec ever applied, numbered per object.
- ``feature_materializations``: per tenant and view version, the watermark up to which
  the online store is complete, and the cursor of a run in progress (for resuming).
- ``feature_datasets``: training sets produced, so a model version can point at one.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from ailayer.db.tables import ID, UTCDateTime, metadata

feature_objects = Table(
    "feature_objects",
    metadata,
    Column("id", ID, primary_key=True),
    Column("tenant_id", ID, ForeignKey("tenants.id"), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("name", String(200), nullable=False),
    Column("version", Integer, nullable=False),
    Column("revision", Integer, nullable=False),
    Column("spec", JSON, nullable=False),
    Column("spec_sha256", String(64), nullable=False),
    Column("active", Boolean, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("updated_by", String(200), nullable=True),
    UniqueConstraint("tenant_id", "kind", "name", name="uq_feature_objects_tenant_kind_name"),
)

feature_object_revisions = Table(
    "feature_object_revisions",
    metadata,
    Column("id", ID, primary_key=True),
    Column("tenant_id", ID, ForeignKey("tenants.id"), nullable=False),
    Column("object_id", ID, ForeignKey("feature_objects.id"), nullable=False),
    Column("revision", Integer, nullable=False),
    Column("version", Integer, nullable=False),
    Column("change", String(20), nullable=False),
    Column("spec", JSON, nullable=False),
    Column("spec_sha256", String(64), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("created_by", String(200), nullable=True),
    UniqueConstraint("object_id", "revision", name="uq_feature_object_revisions_object_revision"),
)

feature_materializations = Table(
    "feature_materializations",
    metadata,
    Column("tenant_id", ID, ForeignKey("tenants.id"), primary_key=True),
    Column("view", String(200), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("watermark", UTCDateTime(), nullable=True),
    Column("run_start", UTCDateTime(), nullable=True),
    Column("run_end", UTCDateTime(), nullable=True),
    Column("run_cursor", JSON, nullable=True),
    Column("run_rows", BigInteger, nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

feature_datasets = Table(
    "feature_datasets",
    metadata,
    Column("id", ID, primary_key=True),
    Column("tenant_id", ID, ForeignKey("tenants.id"), nullable=False, index=True),
    Column("content_sha256", String(64), nullable=False),
    Column("row_count", BigInteger, nullable=False),
    Column("schema", JSON, nullable=False),
    Column("features", JSON, nullable=False),
    Column("definitions", JSON, nullable=False),
    Column("start_at", UTCDateTime(), nullable=True),
    Column("end_at", UTCDateTime(), nullable=True),
    Column("location", Text, nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("created_by", String(200), nullable=True),
)
