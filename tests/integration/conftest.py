"""Fixtures for tests against real services: the S3 server (moto, as a subprocess) and
one event bus per real broker."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.brokers import BACKENDS, Backend, backend_for
from tests.support.s3server import running_s3_server

AWS_ENV_TO_CLEAR = (
    "AWS_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
)


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    with running_s3_server() as url:
        yield url


@pytest.fixture
def aws_env(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point boto3 at the moto server for this test only."""
    for name in AWS_ENV_TO_CLEAR:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    return s3_endpoint


@pytest.fixture
def s3_bucket(aws_env: str) -> Iterator[str]:
    """A fresh bucket, emptied and deleted afterwards."""
    import boto3

    client = boto3.client("s3")
    bucket = f"ailayer-test-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=bucket)
    try:
        yield bucket
    finally:
        listing = client.list_objects_v2(Bucket=bucket)
        for obj in listing.get("Contents", []):
            client.delete_object(Bucket=bucket, Key=obj["Key"])
        client.delete_bucket(Bucket=bucket)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    """Each test using this runs on the embedded bus, Redis, NATS JetStream and RabbitMQ."""
    return backend_for(request.param, tmp_path)


@pytest.fixture(scope="session")
def spark() -> Iterator[object]:
    """One local Spark session for every Spark test of the run (starting one takes
    seconds): the engine of the ``batch_engine: spark`` tests, closed at the end."""
    pytest.importorskip("pyspark")
    from ailayer.features.engines.spark import SparkEngine

    engine = SparkEngine("local[2]", conf={"spark.sql.shuffle.partitions": "2"})
    engine.session()
    yield engine
    engine.close()
