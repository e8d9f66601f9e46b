"""Where the offline store keeps its files: a local directory or an S3 prefix.

Everything the offline store writes or lists — feature sources, saved training sets, the
prediction log, feedback, stream views' logs — goes through a ``Folder``: a ``FileSystem``
backend and a path on it. Reads of many files go through DuckDB, which is handed
*locations* (a local path, or ``s3://bucket/key``) and a connection that ``register`` has
taught to open them.

    open_folder("file:///var/ailayer/offline")    # a local directory (the default)
    open_folder("s3://bucket/prefix")             # S3, MinIO, Ceph, ... (extra: ailayer[s3])
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from typing import Protocol

import duckdb
import pyarrow as pa

from ailayer.core.errors import InvalidInput


class FileSystem(Protocol):
    """A backend. Paths are ``/``-separated strings in the backend's own namespace."""

    def location(self, path: str) -> str:
        """How DuckDB and ``read_parquet`` name the file at ``path``."""
        ...

    def url(self, path: str) -> str:
        """A URL for ``path`` to record (``file://...`` or ``s3://...``)."""
        ...

    def is_dir(self, path: str) -> bool: ...

    def is_file(self, path: str) -> bool: ...

    def glob(self, path: str, pattern: str) -> list[str]:
        """Sorted locations of the files under ``path`` matching ``pattern`` (``*`` within a
        name, ``**`` any number of folders)."""
        ...

    def subfolders(self, path: str) -> list[str]:
        """Names of the folders directly under ``path``."""
        ...

    def write_parquet(
        self, path: str, table: pa.Table, *, durable: bool, **options: object
    ) -> None:
        """Write ``table`` so that readers see the whole file or none of it; ``durable``:
        on stable storage when this returns."""
        ...

    def read_parquet(self, location: str) -> pa.Table: ...

    def delete(self, location: str) -> None:
        """Remove the file at ``location`` (as ``glob`` names it); gone already is fine."""
        ...

    def register(self, con: duckdb.DuckDBPyConnection) -> None:
        """Let ``con`` read this backend's locations."""
        ...


@dataclass(frozen=True)
class Folder:
    """A folder of the offline store (it need not exist yet)."""

    files: FileSystem
    path: str

    def child(self, *parts: str) -> Folder:
        """A folder below this one. ``parts`` may hold ``/`` but must not climb out."""
        joined = posixpath.normpath(posixpath.join(self.path, *parts))
        if not _is_within(joined, self.path):
            raise InvalidInput(f"path {'/'.join(parts)!r} leaves the offline store", field="path")
        return Folder(self.files, joined)

    @property
    def url(self) -> str:
        return self.files.url(self.path)

    def location(self, name: str = "") -> str:
        """The DuckDB-readable location of this folder (or of a file in it)."""
        return self.files.location(self.child(name).path if name else self.path)

    def is_dir(self) -> bool:
        return self.files.is_dir(self.path)

    def is_file(self) -> bool:
        return self.files.is_file(self.path)

    def glob(self, pattern: str) -> list[str]:
        return self.files.glob(self.path, pattern)

    def subfolders(self) -> list[str]:
        return self.files.subfolders(self.path)

    def write_parquet(
        self, name: str, table: pa.Table, *, durable: bool = False, **options: object
    ) -> str:
        """Write ``table`` as the file ``name`` here (whole or not at all); its location."""
        target = self.child(name)
        self.files.write_parquet(target.path, table, durable=durable, **options)
        return self.files.location(target.path)

    def read_parquet(self, location: str) -> pa.Table:
        return self.files.read_parquet(location)

    def delete(self, location: str) -> None:
        """Remove a file of this folder, by the location ``glob`` gave."""
        if not _is_within(location, self.files.location(self.path)):
            raise InvalidInput(f"{location!r} is not in this folder", field="location")
        self.files.delete(location)

    def connect(self) -> duckdb.DuckDBPyConnection:
        """A DuckDB connection for offline queries that can read this folder's files."""
        con = connect()
        self.files.register(con)
        return con


def connect() -> duckdb.DuckDBPyConnection:
    """A DuckDB connection for offline queries (local files only: see ``Folder.connect``).

    Two settings keep a training set's peak memory down (measured in
    ``benchmarks/features.py``): Parquet prefetching is off (it reads a whole row group's
    column chunks into memory before decoding them, which for local files only raises the
    peak: a 1,000,000-row group of 12 columns took ~210 MB of RSS for ~97 MB of data, ~125
    MB without it, and was no faster), and DuckDB's allocator hands freed memory back to
    the system after each large free rather than keeping it for later queries (so the
    join's working memory is not still held while the features are gathered)."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET disable_parquet_prefetching = true")
    con.execute("SET allocator_bulk_deallocation_flush_threshold = '1MB'")
    return con


def _is_within(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def open_folder(url: str) -> Folder:
    """The offline store's root folder for ``url`` (``file://`` or ``s3://``)."""
    if url.startswith("file://"):
        from ailayer.features.files.local import LocalFiles

        return LocalFiles.folder(url.removeprefix("file://"))
    if url.startswith("s3://"):
        from ailayer.features.files.s3 import S3Files

        return S3Files.folder(url)
    raise InvalidInput(
        f"offline_store must be a file:// or s3:// URL; got {url!r}", field="offline_store"
    )


def read_parquet_url(url: str) -> pa.Table:
    """The Parquet file at a URL this package recorded (``Folder.url``)."""
    folder = open_folder(url)
    return folder.read_parquet(folder.location())


__all__ = ["FileSystem", "Folder", "connect", "open_folder", "read_parquet_url"]
