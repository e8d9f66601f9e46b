"""Offline files in a local directory (the embedded default)."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from ailayer.core.files import open_private
from ailayer.features.files import Folder


class LocalFiles:
    """Paths are absolute local paths; so are locations (DuckDB reads them as they are)."""

    @classmethod
    def folder(cls, root: str) -> Folder:
        return Folder(cls(), str(Path(root).resolve()))

    def location(self, path: str) -> str:
        return path

    def url(self, path: str) -> str:
        return f"file://{path}"

    def is_dir(self, path: str) -> bool:
        return Path(path).is_dir()

    def is_file(self, path: str) -> bool:
        return Path(path).is_file()

    def glob(self, path: str, pattern: str) -> list[str]:
        return sorted(str(p) for p in Path(path).glob(pattern) if p.is_file())

    def subfolders(self, path: str) -> list[str]:
        base = Path(path)
        return sorted(p.name for p in base.iterdir() if p.is_dir()) if base.is_dir() else []

    def write_parquet(
        self, path: str, table: pa.Table, *, durable: bool, **options: object
    ) -> None:
        """Written under a temporary name and renamed into place."""
        target = Path(path)
        temporary = target.with_name(f".{target.name}.tmp")
        with open_private(temporary) as handle:  # 0600 in 0700 directories
            pq.write_table(table, handle, **options)  # type: ignore[arg-type]
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(temporary, target)

    def read_parquet(self, location: str) -> pa.Table:
        return pq.read_table(location)

    def delete(self, location: str) -> None:
        Path(location).unlink(missing_ok=True)

    def register(self, con: duckdb.DuckDBPyConnection) -> None:
        """DuckDB reads local files without help."""
