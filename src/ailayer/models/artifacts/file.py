"""Artifacts as files under a local directory (the embedded default)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from ailayer.core.errors import NotFound
from ailayer.core.files import private_dir


class FileBackend:
    def __init__(self, root: Path) -> None:
        self.root = root

    @classmethod
    def from_url(cls, url: str) -> FileBackend:
        return cls(Path(url.removeprefix("file://")).resolve())

    def uri_for(self, key: str) -> str:
        return f"file://{self.root / key}"

    def exists(self, key: str) -> bool:
        return (self.root / key).is_file()

    def write(self, key: str, data: bytes) -> str:
        path = self.root / key
        private_dir(path.parent)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")  # 0600
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return self.uri_for(key)

    def read(self, key: str) -> bytes:
        try:
            return (self.root / key).read_bytes()
        except FileNotFoundError:
            raise NotFound(f"artifact {self.uri_for(key)} is missing") from None
