"""The one S3 client: model artifacts and offline feature files in S3-compatible object
storage both go through it.

The endpoint and credentials come from the standard AWS settings (``AWS_ENDPOINT_URL``,
``AWS_ACCESS_KEY_ID``, ...), so MinIO, Ceph or moto work by environment alone. boto3 is
imported on first use (the ``s3`` extra).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Self
from urllib.parse import urlparse

from ailayer.core.errors import BackendUnavailable


@contextmanager
def s3_unavailable_as_503(setting: str) -> Iterator[None]:
    """S3 refusing us (wrong credentials, no such bucket) or not answering is a 503 that
    names the setting to check, not a client library's error as a 500."""
    from boto3.exceptions import Boto3Error
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except (OSError, BotoCoreError, ClientError, Boto3Error) as exc:
        reason = " ".join(str(exc).split())[:300]
        raise BackendUnavailable(
            f"{setting} (S3) is unavailable or refused the request; check its URL, "
            f"endpoint and credentials: {reason}"
        ) from exc


MISSING = ("404", "NoSuchKey", "NotFound")


class S3Bucket:
    """Objects in one bucket, under an optional key prefix. ``setting`` names the setting
    that points here (``artifacts``, ``offline_store``): every call that reaches S3 turns
    a refusal or silence into a 503 naming it."""

    def __init__(self, bucket: str, prefix: str = "", client=None, *, setting: str) -> None:  # type: ignore[no-untyped-def]
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.setting = setting
        self._client = client

    @classmethod
    def from_url(cls, url: str, *, setting: str) -> Self:
        """``s3://bucket/prefix``."""
        parsed = urlparse(url)
        return cls(parsed.netloc, parsed.path, setting=setting)

    @property
    def client(self):  # type: ignore[no-untyped-def]
        if self._client is None:
            try:
                import boto3
            except ImportError:  # pragma: no cover - depends on extras
                raise BackendUnavailable(
                    f"s3:// {self.setting} need boto3: pip install 'ailayer[s3]'"
                ) from None
            self._client = boto3.client("s3")
        return self._client

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def uri_for(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._key(key)}"

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        with s3_unavailable_as_503(self.setting):
            try:
                self.client.head_object(Bucket=self.bucket, Key=self._key(key))
            except ClientError as exc:
                if _missing(exc):
                    return False
                raise
        return True

    def write(self, key: str, data: bytes) -> str:
        with s3_unavailable_as_503(self.setting):
            self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data)
        return self.uri_for(key)

    def upload(self, key: str, filename: str) -> str:
        """Upload a local file (boto3 splits a large one into parts: memory stays bounded)."""
        with s3_unavailable_as_503(self.setting):
            self.client.upload_file(filename, self.bucket, self._key(key))
        return self.uri_for(key)

    def get(self, key: str) -> bytes | None:
        """The object's bytes, or None when there is no such object."""
        from botocore.exceptions import ClientError

        with s3_unavailable_as_503(self.setting):
            try:
                response = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
            except ClientError as exc:
                if _missing(exc):
                    return None
                raise
            return response["Body"].read()


def _missing(exc: Any) -> bool:
    """Whether a botocore ``ClientError`` says there is no such object."""
    return exc.response.get("Error", {}).get("Code") in MISSING
