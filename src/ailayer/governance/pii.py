"""PII: which fields, and how they are kept or shown (hashed or redacted).

In the prediction log the policy comes from the model version's tags, because the version
is what knows its inputs, whether they come from the request or the feature store (a
version registered with feature refs gets the PII tags of those features added). Feature
definitions tag a feature ``{"pii": "true"}`` (hashed) or ``{"pii_redact": "true"}``
(redacted); training sets,
online reads and exports show such a feature hashed or redacted to a caller whose role may
not read raw PII (``Permission.PII_READ``):

- ``pii=email,phone``: stored as ``sha256:<hex>`` of a per-tenant random salt plus the
  value's JSON, so equal values still match (counts, joins) but cannot be looked up in a
  table of known emails without the salt;
- ``pii_redact=ssn``: stored as ``"[redacted]"``.

Salts live in the metadata store (table ``monitoring_salts``), not beside the log, so a
copied log alone does not reveal them; deleting a tenant's salt makes its hashes
unlinkable. The same salt hashes privacy tombstones (``governance/privacy``).
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import orjson
from sqlalchemy import Column, ForeignKey, String, Table, insert, select
from sqlalchemy.exc import IntegrityError

from ailayer.core.clock import utcnow
from ailayer.db.engine import Database
from ailayer.db.tables import ID, UTCDateTime, metadata

REDACTED = "[redacted]"

monitoring_salts = Table(
    "monitoring_salts",
    metadata,
    Column("tenant_id", ID, ForeignKey("tenants.id"), primary_key=True),
    Column("salt", String(64), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)


def _names(value: str | None) -> frozenset[str]:
    return frozenset(n.strip() for n in (value or "").split(",") if n.strip())


@dataclass(frozen=True)
class PiiPolicy:
    hashed: frozenset[str] = frozenset()
    redacted: frozenset[str] = frozenset()

    @classmethod
    def from_tags(cls, tags: dict[str, str]) -> PiiPolicy:
        return cls(_names(tags.get("pii")), _names(tags.get("pii_redact")))

    @classmethod
    def from_columns(cls, tagged: Iterable[tuple[str, Mapping[str, str]]]) -> PiiPolicy:
        """The policy of columns whose (feature) tags say ``pii`` or ``pii_redact``."""
        hashed, redacted = set(), set()
        for column, tags in tagged:
            if is_tagged(tags, "pii_redact"):
                redacted.add(column)
            elif is_tagged(tags, "pii"):
                hashed.add(column)
        return cls(frozenset(hashed), frozenset(redacted))

    def merged(self, other: PiiPolicy) -> PiiPolicy:
        return PiiPolicy(self.hashed | other.hashed, self.redacted | other.redacted)

    def to_tags(self) -> dict[str, str]:
        """The model-version tags that carry this policy (``pii=…``, ``pii_redact=…``)."""
        tags = {}
        if self.hashed:
            tags["pii"] = ",".join(sorted(self.hashed))
        if self.redacted:
            tags["pii_redact"] = ",".join(sorted(self.redacted))
        return tags

    @property
    def fields(self) -> frozenset[str]:
        return self.hashed | self.redacted

    def apply(self, row: dict, salt: bytes) -> dict:
        """A copy of ``row`` with PII fields hashed or redacted."""
        clean = dict(row)
        for name in self.hashed & clean.keys():
            clean[name] = pii_hash(clean[name], salt)
        for name in self.redacted & clean.keys():
            clean[name] = REDACTED
        return clean


def is_tagged(tags: Mapping[str, str], name: str) -> bool:
    """A feature tag ``pii`` / ``pii_redact`` counts unless its value is ``"false"``."""
    return name in tags and tags[name].strip().lower() != "false"


def pii_hash(value: object, salt: bytes) -> str:
    return "sha256:" + hashlib.sha256(salt + orjson.dumps(value)).hexdigest()


class SaltStore:
    """One random salt per tenant, created on first use, cached in memory."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._cache: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def salt(self, tenant_id: str) -> bytes:
        with self._lock:
            if tenant_id not in self._cache:
                self._cache[tenant_id] = bytes.fromhex(self._load_or_create(tenant_id))
            return self._cache[tenant_id]

    def _load_or_create(self, tenant_id: str) -> str:
        query = select(monitoring_salts.c.salt).where(monitoring_salts.c.tenant_id == tenant_id)
        with self.db.read() as conn:
            found = conn.execute(query).scalar()
        if found:
            return found
        try:
            with self.db.write() as conn:
                row = {"tenant_id": tenant_id, "salt": os.urandom(32).hex(), "created_at": utcnow()}
                conn.execute(insert(monitoring_salts).values(**row))
        except IntegrityError:
            pass  # another process created it first; read theirs
        with self.db.read() as conn:
            return conn.execute(query).scalar_one()
