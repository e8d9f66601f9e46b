"""New-data triggers poll source sizes on both offline file systems: a local folder and
S3 (moto's server), rows from the Parquet footers and bytes from the files' sizes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

from ailayer.features.files import Folder, open_folder
from ailayer.pipelines.sizes import OfflineSizes


@pytest.fixture(params=["local", "s3"])
def root(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Folder]:
    if request.param == "local":
        yield open_folder(f"file://{tmp_path / 'offline'}")
    else:
        bucket = request.getfixturevalue("s3_bucket")
        yield open_folder(f"s3://{bucket}/offline/")


def rows(count: int) -> pa.Table:
    return pa.table({"account_id": list(range(count)), "amount": [2.5] * count})


def stored_bytes(root: Folder, prefix: str) -> int:
    """What the file system says the files under ``prefix`` take."""
    if root.url.startswith("file://"):
        files = Path(root.child(prefix).location()).rglob("*")
        return sum(f.stat().st_size for f in files if f.is_file())
    import boto3

    bucket, _, key = root.url.removeprefix("s3://").partition("/")
    listing = boto3.client("s3").list_objects_v2(
        Bucket=bucket, Prefix=f"{key.rstrip('/')}/{prefix}/"
    )
    return sum(item["Size"] for item in listing.get("Contents", []))


def test_a_folder_and_a_file_are_measured(root: Folder) -> None:
    sizes = OfflineSizes(root.child)
    assert sizes.size("acme", "payments") == {"rows": 0, "bytes": 0}  # nothing yet
    payments = root.child("acme", "payments")
    payments.write_parquet("day=1/part-0.parquet", rows(300))
    payments.write_parquet("day=2/part-0.parquet", rows(200))
    root.child("acme").write_parquet("labels.parquet", rows(7))
    root.child("other").child("payments").write_parquet("part-0.parquet", rows(999))

    found = sizes.size("acme", "payments")
    assert found == {"rows": 500, "bytes": stored_bytes(root, "acme/payments")}
    assert found["bytes"] > 0
    assert sizes.size("acme", "labels.parquet")["rows"] == 7
