"""After ``ailayer up --port N``, the CLI in the same folder finds that server without
``--url``: ``up`` records its URL in ``.ailayer/server.json`` (0600) and removes it on a
clean stop. A stale record is ignored, and "cannot reach" says how to point elsewhere."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path

import pytest

from tests.support.services import free_port
from tests.support.up import ailayer_command, start

pytestmark = pytest.mark.e2e


def cli(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("AILAYER_")}
    environment.update(env or {})
    return subprocess.run(
        [*ailayer_command(), *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_commands_find_the_server_up_recorded_and_say_how_to_point_elsewhere(
    tmp_path: Path,
) -> None:
    cwd = tmp_path / "project"
    cwd.mkdir()
    port = free_port()
    record = cwd / ".ailayer" / "server.json"
    server = start(cwd, port, run=1)
    try:
        server.wait_for_curl(timeout=40)
        server.wait_healthy(timeout=10)
        assert json.loads(record.read_text()) == {
            "url": f"http://127.0.0.1:{port}",
            "pid": server.process.pid,
        }
        assert stat.S_IMODE(os.stat(record).st_mode) == 0o600

        listed = cli(cwd, "models", "list", "--json")
        assert listed.returncode == 0, listed.stderr
        assert [m["name"] for m in json.loads(listed.stdout)] == ["fraud"]
        elsewhere = cli(
            cwd, "models", "list", env={"AILAYER_URL": f"http://127.0.0.1:{free_port()}"}
        )
        assert elsewhere.returncode == 1
        assert "(from AILAYER_URL)" in elsewhere.stderr
        assert server.stop() == 0, server.logs()
    finally:
        if server.process.poll() is None:
            server.process.kill()
            server.process.wait()
    assert not record.exists()  # a clean stop removes it

    # a record whose process is gone (a crash) is ignored: the settings' port is tried
    record.write_text(json.dumps({"url": f"http://127.0.0.1:{port}", "pid": 2**22 + 1}))
    gone = cli(cwd, "models", "list", env={"AILAYER_PORT": str(free_port())})
    assert gone.returncode == 1
    [line] = gone.stderr.strip().splitlines()
    assert "cannot reach ailayer at http://127.0.0.1:" in line
    assert "(from the settings' host and port)" in line
    for hint in ("--url", "AILAYER_URL", "`ailayer up`"):
        assert hint in line
