"""The ``ArtifactStore`` contract (``models/artifacts/base.py``), run against every backend.

``file://`` runs in a temporary directory; ``s3://`` runs against moto's S3 server started
as a real subprocess, so requests go over HTTP through boto3 as they would to MinIO/AWS.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ailayer.core.errors import ArtifactIntegrityError, InvalidInput, NotFound
from ailayer.models.artifacts import ArtifactRef, ArtifactStore, open_artifact_store
from ailayer.models.artifacts.base import artifact_key

pytestmark = pytest.mark.integration

PAYLOAD = b"model bytes \x00\x01\x02" * 100


@dataclass
class Backend:
    """A store plus raw access to what it wrote, to tamper with and inspect it."""

    store: ArtifactStore
    overwrite: Callable[[str], None]
    delete: Callable[[str], None]
    stored_keys: Callable[[], list[str]]
    uri_prefix: str


def _file_backend(tmp_path: Path) -> Backend:
    root = tmp_path / "artifacts"
    store = open_artifact_store(f"file://{root}")

    def stored_keys() -> list[str]:
        if not root.exists():
            return []
        return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())

    return Backend(
        store=store,
        overwrite=lambda key: (root / key).write_bytes(b"tampered"),
        delete=lambda key: (root / key).unlink(),
        stored_keys=stored_keys,
        uri_prefix=f"file://{root.resolve()}/",
    )


def _s3_backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    import boto3

    request.getfixturevalue("aws_env")
    client = boto3.client("s3")
    bucket = f"ailayer-test-{uuid.uuid4().hex[:12]}"
    prefix = "models/prod"
    client.create_bucket(Bucket=bucket)

    def stored_keys() -> list[str]:
        listing = client.list_objects_v2(Bucket=bucket)
        return sorted(obj["Key"] for obj in listing.get("Contents", []))

    try:
        yield Backend(
            store=open_artifact_store(f"s3://{bucket}/{prefix}"),
            overwrite=lambda key: client.put_object(
                Bucket=bucket, Key=f"{prefix}/{key}", Body=b"tampered"
            ),
            delete=lambda key: client.delete_object(Bucket=bucket, Key=f"{prefix}/{key}"),
            stored_keys=stored_keys,
            uri_prefix=f"s3://{bucket}/{prefix}/",
        )
    finally:
        for key in stored_keys():
            client.delete_object(Bucket=bucket, Key=key)
        client.delete_bucket(Bucket=bucket)


@pytest.fixture(params=["file", "s3"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "file":
        yield _file_backend(tmp_path)
    else:
        yield from _s3_backend(request)


def test_put_then_get_round_trips_the_bytes(backend: Backend) -> None:
    ref = backend.store.put("acme", PAYLOAD)

    assert ref.sha256 == hashlib.sha256(PAYLOAD).hexdigest()
    assert ref.size == len(PAYLOAD)
    assert ref.uri == backend.uri_prefix + artifact_key("acme", ref.sha256)
    assert backend.store.get("acme", ref) == PAYLOAD


def test_empty_artifact_round_trips(backend: Backend) -> None:
    ref = backend.store.put("acme", b"")

    assert ref.size == 0
    assert backend.store.get("acme", ref) == b""


def test_same_bytes_twice_give_the_same_ref_and_are_stored_once(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = backend.store.put("acme", PAYLOAD)
    writes: list[str] = []
    real_write = backend.store.backend.write

    def counting_write(key: str, data: bytes) -> str:
        writes.append(key)
        return real_write(key, data)

    monkeypatch.setattr(backend.store.backend, "write", counting_write)
    second = backend.store.put("acme", PAYLOAD)

    assert second == first
    assert writes == []
    [stored] = backend.stored_keys()  # exactly one object, no leftover temporary files
    assert stored.endswith(artifact_key("acme", first.sha256))


def test_different_bytes_give_different_refs(backend: Backend) -> None:
    one = backend.store.put("acme", b"one")
    two = backend.store.put("acme", b"two")

    assert one.sha256 != two.sha256
    assert one.uri != two.uri
    assert backend.store.get("acme", one) == b"one"
    assert backend.store.get("acme", two) == b"two"


def test_tenants_have_their_own_keys(backend: Backend) -> None:
    ref_a = backend.store.put("tenant-a", PAYLOAD)
    ref_b = backend.store.put("tenant-b", PAYLOAD)

    assert ref_a.sha256 == ref_b.sha256
    assert ref_a.uri != ref_b.uri
    assert "/t/tenant-a/" in ref_a.uri
    assert "/t/tenant-b/" in ref_b.uri
    assert len(backend.stored_keys()) == 2


def test_a_tenant_cannot_read_another_tenants_artifact(backend: Backend) -> None:
    ref = backend.store.put("tenant-a", PAYLOAD)

    with pytest.raises(NotFound):
        backend.store.get("tenant-b", ref)


def test_tampered_bytes_are_refused(backend: Backend) -> None:
    ref = backend.store.put("acme", PAYLOAD)
    backend.overwrite(artifact_key("acme", ref.sha256))

    with pytest.raises(ArtifactIntegrityError) as excinfo:
        backend.store.get("acme", ref)

    message = str(excinfo.value)
    assert "failed its integrity check" in message
    assert "refusing to load" in message
    assert ref.sha256 in message
    assert excinfo.value.status == 500


def test_deleted_artifact_is_not_found(backend: Backend) -> None:
    ref = backend.store.put("acme", PAYLOAD)
    backend.delete(artifact_key("acme", ref.sha256))

    with pytest.raises(NotFound) as excinfo:
        backend.store.get("acme", ref)
    assert excinfo.value.status == 404


def test_never_stored_artifact_is_not_found(backend: Backend) -> None:
    digest = hashlib.sha256(b"never stored").hexdigest()
    ref = ArtifactRef(backend.uri_prefix + artifact_key("acme", digest), digest, 12)

    with pytest.raises(NotFound):
        backend.store.get("acme", ref)


@pytest.mark.parametrize("url", ["ftp://host/path", "gs://bucket/prefix", "/plain/path", ""])
def test_unknown_scheme_is_invalid_input_naming_the_field(url: str) -> None:
    with pytest.raises(InvalidInput) as excinfo:
        open_artifact_store(url)

    assert excinfo.value.field == "artifacts"
    assert "artifacts" in str(excinfo.value)
