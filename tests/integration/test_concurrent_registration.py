"""Processes registering versions of one model at the same moment get distinct,
consecutive numbers, on SQLite and on the real PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from ailayer.db.engine import Database
from ailayer.db.migrate import upgrade
from ailayer.governance.keys import KeyService

pytestmark = pytest.mark.integration

WORKERS = 4
PER_WORKER = 5
ROOT = Path(__file__).resolve().parents[2]


def test_concurrent_processes_get_consecutive_versions(metadata_url, tmp_path) -> None:  # type: ignore[no-untyped-def]
    db = Database(metadata_url)
    upgrade(db)
    tenant = KeyService(db).create_tenant("acme")
    db.dispose()
    start = time.time() + 3.0
    artifacts = f"file://{tmp_path / 'artifacts'}"
    args = [metadata_url, artifacts, tenant, str(PER_WORKER), str(start)]
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.integration.register_worker", *args],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(WORKERS)
    ]
    versions: list[int] = []
    for worker in workers:
        out, err = worker.communicate(timeout=120)
        assert worker.returncode == 0, err
        versions += [int(line) for line in out.split()]
    assert sorted(versions) == list(range(1, WORKERS * PER_WORKER + 1))
