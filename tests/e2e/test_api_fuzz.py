"""A bounded OpenAPI fuzz of a real ``ailayer up``: every route, with an admin key, from
the document the server publishes. It fails on any 5xx, any status, content type or
header the document does not declare, any answer that violates its schema, an invalid
request accepted, an ``Allow`` header that disagrees with the document, and a route that
answers without a key.

Not checked: that every schema-valid request is accepted. Some rules cannot be written
in a JSON Schema (a window's start before its end, a record carrying the fields of the
model's own signature, a feature that exists, a Parquet file that parses); those
requests are 422 by design. The run never revokes or rotates its own key (``DELETE
/v1/keys/{prefix}`` and ``POST /v1/keys/{name}/rotate`` are left out): the server
refuses to revoke a tenant's last admin key, but the fuzzer could first make a second
one, and a rotation with no overlap ends the fuzzer's key at once.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.services import free_port
from tests.support.up import start

pytestmark = pytest.mark.e2e

SEED = 7
MAX_EXAMPLES = 25
CHECKS_LEFT_OUT = "positive_data_acceptance"


def test_the_api_survives_a_seeded_fuzz_with_zero_server_errors(tmp_path: Path) -> None:
    cwd = tmp_path / "project"
    cwd.mkdir()
    up = start(cwd, free_port(), run=1)
    try:
        up.wait_for_curl(timeout=60)
        up.wait_healthy(timeout=10)
        key = (cwd / ".ailayer" / "credentials").read_text().strip()
        command = [
            sys.executable, "-m", "schemathesis.cli", "run", f"{up.url}/openapi.json",
            "--header", f"Authorization: Bearer {key}",
            "--checks", "all", "--exclude-checks", CHECKS_LEFT_OUT,
            "--exclude-path", "/v1/keys/{prefix}",
            "--exclude-path", "/v1/keys/{name}/rotate",
            "--max-examples", str(MAX_EXAMPLES), "--seed", str(SEED),
            "--generation-deterministic", "--request-timeout", "20", "--no-color",
        ]  # fmt: skip
        done = subprocess.run(
            command, cwd=tmp_path, capture_output=True, text=True, timeout=600, check=False
        )
        assert up.process.poll() is None, up.logs()
    finally:
        up.stop()
    report = done.stdout[-12000:] + done.stderr[-4000:]
    assert done.returncode == 0, report
    assert " passed" in done.stdout or "No issues found" in done.stdout, report
