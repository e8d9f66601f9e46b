"""The artifact store port: content-addressed blobs per tenant.

Contract every backend honours (see ``tests/integration/test_artifact_contract.py``):
- ``put(tenant, data)`` stores the bytes under their SHA-256 and returns an ``ArtifactRef``;
  putting the same bytes twice is a no-op that returns the same reference;
- ``get(tenant, ref)`` returns the bytes only after checking their SHA-256 against the
  reference, raising ``ArtifactIntegrityError`` on a mismatch and ``NotFound`` when they are
  gone;
- a tenant's artifacts live under that tenant's own prefix, so one tenant's reference never
  reads another tenant's bytes.

Backends implement the raw methods; hashing and checking live here, once.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlparse

from ailayer.core.errors import ArtifactIntegrityError, InvalidInput


@dataclass(frozen=True, slots=True)
class ArtifactRef:
    uri: str
    sha256: str
    size: int


class BlobBackend(Protocol):
    """Where bytes live. Keys are relative paths such as ``t/<tenant>/sha256/<hex>``."""

    def write(self, key: str, data: bytes) -> str:
        """Store ``data`` at ``key`` (atomically) and return its URI."""

    def read(self, key: str) -> bytes:
        """Return the bytes at ``key``; raise ``NotFound`` if there are none."""

    def exists(self, key: str) -> bool: ...

    def uri_for(self, key: str) -> str:
        """The URI a reference records for ``key``."""


def artifact_key(tenant_id: str, sha256: str) -> str:
    return f"t/{tenant_id}/sha256/{sha256[:2]}/{sha256}"


class ArtifactStore:
    """Content-addressed storage on top of any ``BlobBackend``."""

    def __init__(self, backend: BlobBackend) -> None:
        self.backend = backend

    def put(self, tenant_id: str, data: bytes) -> ArtifactRef:
        digest = hashlib.sha256(data).hexdigest()
        key = artifact_key(tenant_id, digest)
        uri = self.backend.write(key, data) if not self.backend.exists(key) else None
        return ArtifactRef(uri or self.uri_for(key), digest, len(data))

    def get(self, tenant_id: str, ref: ArtifactRef) -> bytes:
        data = self.backend.read(artifact_key(tenant_id, ref.sha256))
        actual = hashlib.sha256(data).hexdigest()
        if actual != ref.sha256:
            raise ArtifactIntegrityError(
                f"artifact {ref.uri} failed its integrity check: expected sha256 "
                f"{ref.sha256}, found {actual}; refusing to load it"
            )
        return data

    def uri_for(self, key: str) -> str:
        return self.backend.uri_for(key)


def open_artifact_store(url: str) -> ArtifactStore:
    """Build the store for ``file://path`` or ``s3://bucket/prefix``."""
    scheme = urlparse(url).scheme
    if scheme == "file":
        from ailayer.models.artifacts.file import FileBackend

        return ArtifactStore(FileBackend.from_url(url))
    if scheme == "s3":
        from ailayer.models.artifacts.s3 import S3Backend

        return ArtifactStore(S3Backend.from_url(url, setting="artifacts"))
    raise InvalidInput(f"artifacts must be a file:// or s3:// URL; got {url!r}", field="artifacts")
