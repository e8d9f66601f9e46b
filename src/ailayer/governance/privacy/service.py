"""A data subject request: export what every store holds, or erase it with a receipt.

A delete first adds the subject to the tombstones (so a materialization or stream write
that runs meanwhile skips it), then asks every store to erase, then records the receipt
— what was removed where, counts, time — in the audit trail. A store that fails is named
in the receipt (``complete: false``) and the others still run; running the delete again
completes it, since every store's erase is idempotent. Audit entries name the subject by
its tombstone hash only: the audit trail is append-only, so it must not hold the key.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from ailayer.core.clock import utcnow
from ailayer.core.errors import AilayerError
from ailayer.db.engine import Database
from ailayer.governance import audit
from ailayer.governance.privacy.subject import Subject, SubjectStore
from ailayer.governance.privacy.tombstones import Tombstones

log = logging.getLogger(__name__)


class PrivacyService:
    def __init__(
        self, db: Database, stores: Sequence[SubjectStore], tombstones: Tombstones
    ) -> None:
        self.db = db
        self.stores = list(stores)
        self.tombstones = tombstones

    def export(self, tenant_id: str, actor: str, subject: Subject) -> dict[str, Any]:
        """Every record of the subject, per store, as JSON-ready data (audited)."""
        found = [store.find(tenant_id, subject) for store in self.stores]
        digest = self.tombstones.hash(tenant_id, subject.key, subject.value)
        held = sum(len(f.records) for f in found if not f.untouched)
        with self.db.write() as conn:
            audit.record(
                conn, tenant_id, actor, "privacy.export", f"subject/{digest}", records=held
            )
        return {
            "subject": str(subject),
            "exported_at": utcnow().isoformat(),
            "records": held,
            "erased_before": digest in self.tombstones.hashes(tenant_id),
            "stores": [f.to_dict() for f in found],
        }

    def delete(self, tenant_id: str, actor: str, subject: Subject) -> dict[str, Any]:
        """Tombstone, erase everywhere, audit the receipt; the receipt."""
        started = utcnow()
        digest = self.tombstones.add(tenant_id, subject)
        erased, failed = [], {}
        for store in self.stores:
            try:
                erased.append(store.erase(tenant_id, subject).to_dict())
            except (AilayerError, OSError) as exc:  # named in the receipt; a re-run completes it
                log.warning("privacy delete: store %s failed: %s", store.name, exc)
                failed[store.name] = str(exc)
        receipt = {
            "subject_hash": digest,
            "subject_key": subject.key,
            "started_at": started.isoformat(),
            "finished_at": utcnow().isoformat(),
            "complete": not failed,
            "removed": sum(e["removed"] for e in erased),
            "stores": erased,
            "failed": failed,
        }
        with self.db.write() as conn:
            audit.record(conn, tenant_id, actor, "privacy.delete", f"subject/{digest}", **receipt)
        return receipt
