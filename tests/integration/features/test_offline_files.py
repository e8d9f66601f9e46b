"""The offline store's file backends pass one contract: a local directory and S3 (moto's
server, over HTTP, as MinIO or AWS would be reached)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from ailayer.core.errors import InvalidInput
from ailayer.features.files import Folder, open_folder
from ailayer.features.files.s3 import matches


@pytest.fixture(params=["local", "s3"])
def root(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Folder]:
    if request.param == "local":
        yield open_folder(f"file://{tmp_path / 'offline'}")
    else:
        bucket = request.getfixturevalue("s3_bucket")
        yield open_folder(f"s3://{bucket}/offline/")


def table(*values: int) -> pa.Table:
    return pa.table({"k": pa.array(values, pa.int64())})


def test_written_files_are_read_back_listed_and_found(root: Folder) -> None:
    tenant = root.child("acme")
    assert not tenant.is_dir() and tenant.glob("**/*.parquet") == []
    first = tenant.child("views", "a").write_parquet("part-1.parquet", table(1, 2))
    tenant.child("views", "a").write_parquet("part-2.parquet", table(3), durable=True)
    tenant.child("views", "b", "deep").write_parquet("part-1.parquet", table(4))
    tenant.write_parquet("top.parquet", table(5))

    assert tenant.read_parquet(first).column("k").to_pylist() == [1, 2]
    assert tenant.is_dir() and tenant.child("views").is_dir()
    assert tenant.child("top.parquet").is_file() and not tenant.child("top.parquet").is_dir()
    assert not tenant.child("missing.parquet").is_file()
    assert tenant.subfolders() == ["views"] and tenant.child("views").subfolders() == ["a", "b"]
    assert root.child("nobody").subfolders() == []

    located = tenant.location()
    assert tenant.glob("views/a/*.parquet") == [
        f"{located}/views/a/part-1.parquet",
        f"{located}/views/a/part-2.parquet",
    ]
    assert tenant.glob("views/*/part-1.parquet") == [f"{located}/views/a/part-1.parquet"]
    assert len(tenant.glob("**/*.parquet")) == 4
    assert tenant.glob("*.parquet") == [f"{located}/top.parquet"]


def test_duckdb_reads_the_locations_with_file_names(root: Folder) -> None:
    folder = root.child("acme", "source")
    folder.write_parquet("part-1.parquet", table(1, 2))
    folder.write_parquet("part-2.parquet", table(3))
    files = ", ".join(f"'{f}'" for f in folder.glob("*.parquet"))
    con = folder.connect()
    try:
        rows = con.sql(
            f"SELECT k, filename, file_row_number FROM read_parquet([{files}], filename=true, "
            "file_row_number=true) ORDER BY k"
        ).fetchall()
    finally:
        con.close()
    assert [(k, row) for k, _, row in rows] == [(1, 0), (2, 1), (3, 0)]
    assert rows[0][1] == folder.location("part-1.parquet")
    assert rows[2][1] == folder.location("part-2.parquet")


def test_a_rewritten_file_is_replaced_whole(root: Folder) -> None:
    folder = root.child("acme")
    folder.write_parquet("x.parquet", table(1))
    location = folder.write_parquet("x.parquet", table(7, 8, 9))
    assert folder.read_parquet(location).num_rows == 3
    assert folder.glob("*") == [location]  # no temporary file left beside it


@pytest.mark.parametrize("escape", ["..", "../other", "a/../../other", "/etc"])
def test_a_child_path_cannot_leave_the_folder(root: Folder, escape: str) -> None:
    with pytest.raises(InvalidInput, match="leaves the offline store"):
        root.child("acme").child(escape)


def test_glob_pattern_matching() -> None:
    assert matches(["a", "b.parquet"], ["**", "*.parquet"])
    assert matches(["b.parquet"], ["**", "*.parquet"])
    assert not matches(["a", "b.csv"], ["**", "*.parquet"])
    assert matches(["endpoint=x", "date=2026-01-01", "p.parquet"], ["*", "date=*", "*.parquet"])
    assert not matches(["endpoint=x", "p.parquet"], ["*", "date=*", "*.parquet"])


def test_unknown_schemes_are_refused() -> None:
    with pytest.raises(InvalidInput, match="offline_store"):
        open_folder("gs://bucket/offline")
    with pytest.raises(InvalidInput, match="names no bucket"):
        open_folder("s3://")


def test_a_large_file_is_written_whole(root: Folder) -> None:
    """Over boto3's multipart threshold (8 MB) on S3: uploaded in parts, read back whole."""
    rng = np.random.default_rng(7)
    big = pa.table({"x": rng.random(1_500_000)})  # ~12 MB of Parquet: random doubles
    location = root.child("acme").write_parquet("big.parquet", big)
    assert root.child("acme").read_parquet(location).equals(big)


def test_a_deleted_file_is_gone_and_deleting_it_again_is_fine(root: Folder) -> None:
    days = root.child("acme", "_feedback")
    old = days.child("date=2026-01-01").write_parquet("part-1.parquet", table(1))
    kept = days.child("date=2026-12-01").write_parquet("part-1.parquet", table(2))
    days.delete(old)
    days.delete(old)
    assert days.glob("*/*.parquet") == [kept]
    with pytest.raises(InvalidInput):
        root.child("other").delete(kept)  # only files of the folder it is asked of
