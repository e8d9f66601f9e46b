"""Offline files in S3-compatible object storage (``s3://bucket/prefix``).

Configured like the artifact store, by the standard AWS settings alone
(``AWS_ENDPOINT_URL`` or ``AWS_ENDPOINT_URL_S3``, ``AWS_ACCESS_KEY_ID``, ``AWS_REGION`` ...),
so MinIO, Ceph or moto work by environment. Files are written with the one S3 client,
``core/s3.py``, as artifacts are (boto3, from a temporary file, in parts when large; S3
shows the object whole or not at all); listing and reading go through pyarrow's S3
filesystem, which DuckDB reads through fsspec (DuckDB's own ``httpfs`` extension is not
needed).
"""

from __future__ import annotations

import fnmatch
import os
import tempfile
from functools import cached_property
from typing import Any
from urllib.parse import urlsplit

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from ailayer.core.errors import BackendUnavailable, InvalidInput
from ailayer.core.s3 import S3Bucket, s3_unavailable_as_503
from ailayer.features.files import Folder

PREFIX = "s3://"
GLOB_CHARACTERS = set("*?[")


class S3Files:
    """Paths are ``bucket/key``; locations are ``s3://bucket/key``."""

    @classmethod
    def folder(cls, url: str) -> Folder:
        path = url.removeprefix(PREFIX).strip("/")
        if not path:
            raise InvalidInput(f"offline_store {url!r} names no bucket", field="offline_store")
        return Folder(cls(), path)

    @cached_property
    def arrow(self) -> Any:
        """pyarrow's S3 filesystem, pointed where boto3 would go."""
        from pyarrow import fs

        options: dict[str, Any] = {}
        endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
        if endpoint:
            parts = urlsplit(endpoint)
            options.update(endpoint_override=parts.netloc, scheme=parts.scheme or "https")
        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        if region:
            options["region"] = region
        return fs.S3FileSystem(**options)

    @cached_property
    def fsspec(self) -> Any:
        """The same filesystem as fsspec sees it, under the ``s3`` protocol, for DuckDB."""
        try:
            from fsspec.implementations.arrow import ArrowFSWrapper
        except ImportError:  # pragma: no cover - depends on extras
            raise BackendUnavailable(
                "an s3:// offline store needs fsspec and boto3: pip install 'ailayer[s3]'"
            ) from None

        class S3Wrapper(ArrowFSWrapper):
            protocol = "s3"

        return S3Wrapper(self.arrow)

    def location(self, path: str) -> str:
        return PREFIX + path

    def url(self, path: str) -> str:
        return PREFIX + path

    def _type(self, path: str) -> Any:
        with s3_unavailable_as_503("offline_store"):
            return self.arrow.get_file_info(path).type

    def is_dir(self, path: str) -> bool:
        from pyarrow import fs

        return self._type(path) == fs.FileType.Directory

    def is_file(self, path: str) -> bool:
        from pyarrow import fs

        return self._type(path) == fs.FileType.File

    def glob(self, path: str, pattern: str) -> list[str]:
        """Lists below the pattern's literal leading folders, then matches the rest."""
        from pyarrow import fs

        wanted = pattern.split("/")
        literal = 0
        while literal < len(wanted) - 1 and not GLOB_CHARACTERS & set(wanted[literal]):
            literal += 1
        base = "/".join([path, *wanted[:literal]])
        selector = fs.FileSelector(base, recursive=True, allow_not_found=True)
        found = []
        with s3_unavailable_as_503("offline_store"):
            infos = self.arrow.get_file_info(selector)
        for info in infos:
            if info.type != fs.FileType.File:
                continue
            relative = info.path.removeprefix(base + "/").split("/")
            if matches(relative, wanted[literal:]):
                found.append(PREFIX + info.path)
        return sorted(found)

    def subfolders(self, path: str) -> list[str]:
        from pyarrow import fs

        selector = fs.FileSelector(path, recursive=False, allow_not_found=True)
        with s3_unavailable_as_503("offline_store"):
            infos = self.arrow.get_file_info(selector)
        return sorted(i.base_name for i in infos if i.type == fs.FileType.Directory)

    def write_parquet(
        self, path: str, table: pa.Table, *, durable: bool, **options: object
    ) -> None:
        """Written to a temporary file, then uploaded (in parts when large): the object
        appears whole when the upload completes, durable as S3 makes it."""
        bucket, key = path.split("/", 1)
        with tempfile.NamedTemporaryFile(suffix=".parquet") as staged:
            pq.write_table(table, staged.name, **options)  # type: ignore[arg-type]
            S3Bucket(bucket, setting="offline_store").upload(key, staged.name)

    def read_parquet(self, location: str) -> pa.Table:
        with s3_unavailable_as_503("offline_store"):
            return pq.read_table(location.removeprefix(PREFIX), filesystem=self.arrow)

    def delete(self, location: str) -> None:
        from pyarrow import fs

        path = location.removeprefix(PREFIX)
        with s3_unavailable_as_503("offline_store"):
            if self.arrow.get_file_info(path).type == fs.FileType.File:
                self.arrow.delete_file(path)

    def register(self, con: duckdb.DuckDBPyConnection) -> None:
        con.register_filesystem(self.fsspec)


def matches(parts: list[str], pattern: list[str]) -> bool:
    """Whether path ``parts`` match glob ``pattern`` parts (``**``: any number of folders)."""
    if not pattern:
        return not parts
    if pattern[0] == "**":
        return any(matches(parts[i:], pattern[1:]) for i in range(len(parts) + 1))
    return (
        bool(parts)
        and fnmatch.fnmatchcase(parts[0], pattern[0])
        and matches(parts[1:], pattern[1:])
    )
