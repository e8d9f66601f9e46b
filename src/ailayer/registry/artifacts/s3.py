"""Artifacts in S3-compatible object storage (``s3://bucket/prefix``).

The endpoint and credentials come from the standard AWS settings (``AWS_ENDPOINT_URL``,
``AWS_ACCESS_KEY_ID``, ...), so MinIO, Ceph or moto work by environment alone.
"""

from __future__ import annotations

from urllib.parse import urlparse

from ailayer.core.errors import BackendUnavailable, NotFound


class S3Backend:
    def __init__(self, bucket: str, prefix: str = "", client=None) -> None:  # type: ignore[no-untyped-def]
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self._client = client

    @classmethod
    def from_url(cls, url: str) -> S3Backend:
        parsed = urlparse(url)
        return cls(parsed.netloc, parsed.path)

    @property
    def client(self):  # type: ignore[no-untyped-def]
        if self._client is None:
            try:
                import boto3
            except ImportError:  # pragma: no cover - depends on extras
                raise BackendUnavailable(
                    "s3:// artifacts need boto3: pip install 'ailayer[s3]'"
                ) from None
            self._client = boto3.client("s3")
        return self._client

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def uri_for(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._key(key)}"

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def write(self, key: str, data: bytes) -> str:
        self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data)
        return self.uri_for(key)

    def upload(self, key: str, filename: str) -> str:
        """Upload a local file (boto3 splits a large one into parts: memory stays bounded)."""
        self.client.upload_file(filename, self.bucket, self._key(key))
        return self.uri_for(key)

    def read(self, key: str) -> bytes:
        from botocore.exceptions import ClientError

        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                raise NotFound(f"artifact {self.uri_for(key)} is missing") from None
            raise
        return response["Body"].read()
