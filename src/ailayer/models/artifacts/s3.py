"""Artifacts in S3-compatible object storage (``s3://bucket/prefix``), through the one S3
client (``core/s3.py``), which is configured by the standard AWS settings alone."""

from __future__ import annotations

from ailayer.core.errors import NotFound
from ailayer.core.s3 import S3Bucket


class S3Backend(S3Bucket):
    """The artifact store's ``BlobBackend`` on a bucket: ``read`` of a missing key is a
    ``NotFound`` naming the artifact."""

    def read(self, key: str) -> bytes:
        data = self.get(key)
        if data is None:
            raise NotFound(f"artifact {self.uri_for(key)} is missing")
        return data
