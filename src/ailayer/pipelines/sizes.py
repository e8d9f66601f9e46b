"""How big a source is now, for new-data triggers: rows and bytes of its Parquet files.

Polling is cheap: rows come from each file's Parquet footer and bytes from its size, so
no data is read. Works on both offline file systems (local folders and S3), through the
tenant's ``Folder`` of the offline store.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from ailayer.features.files import Folder
from ailayer.features.sources import literal

# what ailayer writes under a tenant's offline root; the rest are the customer's sources
WRITTEN_FOLDERS = ("datasets", "_predictions", "_feedback", "streams")


class SourceSizes(Protocol):
    """The size of a tenant's source: ``{"rows": int, "bytes": int}``; a source with no
    files yet is ``0`` and ``0``. A path that leaves the tenant's store is
    ``InvalidInput``."""

    def size(self, tenant_id: str, source: str) -> dict[str, int]: ...


class OfflineSizes:
    """Sizes of Parquet files and folders under each tenant's root of the offline store."""

    def __init__(self, tenant_root: Callable[[str], Folder]) -> None:
        self.tenant_root = tenant_root

    def size(self, tenant_id: str, source: str) -> dict[str, int]:
        folder = self.tenant_root(tenant_id).child(source.removeprefix("file://"))
        if folder.is_dir():
            files = folder.glob("**/*.parquet")
        else:
            files = [folder.location()] if folder.is_file() else []
        if not files:
            return {"rows": 0, "bytes": 0}
        listed = "[" + ", ".join(literal(f) for f in files) + "]"
        con = folder.connect()
        try:
            rows = con.execute(
                f"SELECT sum(num_rows) FROM parquet_file_metadata({listed})"
            ).fetchone()
            size = con.execute(f"SELECT sum(size) FROM read_blob({listed})").fetchone()
        finally:
            con.close()
        return {"rows": int(rows[0] or 0), "bytes": int(size[0] or 0)}

    def written(self, tenant_id: str) -> int:
        """Bytes of the files ailayer wrote for the tenant (saved training sets, the
        prediction log and feedback, stream views' logs), not the customer's sources."""
        return sum(self.size(tenant_id, folder)["bytes"] for folder in WRITTEN_FOLDERS)
