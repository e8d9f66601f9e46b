"""The bytes a tenant stores now, per store: what storage is billed on.

- ``offline``: the tenant's Parquet files in the offline store (feature sources,
  datasets, the prediction log, feedback and stream logs), sized from the files;
- ``artifacts``: the tenant's model artifacts as registered (sizes from the registry).

The online store and the metadata database are not sized per tenant (neither backend
reports a tenant's share cheaply); they are left out, not guessed.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import func, select

from ailayer.db.engine import Database
from ailayer.db.tables import model_versions
from ailayer.features.files import Folder
from ailayer.pipelines.sizes import OfflineSizes


class StoredBytes:
    def __init__(self, db: Database, tenant_root: Callable[[str], Folder]) -> None:
        self.db = db
        self.offline = OfflineSizes(tenant_root)

    def stored(self, tenant_id: str) -> dict[str, int]:
        """Store name → bytes the tenant holds there now."""
        query = select(func.sum(model_versions.c.artifact_size)).where(
            model_versions.c.tenant_id == tenant_id
        )
        with self.db.read() as conn:
            artifacts = int(conn.execute(query).scalar() or 0)
        return {"offline": self.offline.size(tenant_id, "")["bytes"], "artifacts": artifacts}
