"""Running an example's README, command by command, against a real ``ailayer up`` subprocess
(e2e tests)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support.services import free_port
from tests.support.up import ailayer_command

README_URL = "http://127.0.0.1:8000"
"""The server URL the READMEs show; each step runs against the test's server instead."""


@dataclass
class Server:
    process: subprocess.Popen
    log: Path
    url: str

    def wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"ailayer up exited\n{self.log.read_text()}"
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"ailayer up not healthy within {timeout} s\n{self.log.read_text()}")


def user_environment() -> dict[str, str]:
    """A user's shell: this environment's ``ailayer`` and ``python`` first on PATH, the
    example's ailayer.yaml read (no AILAYER_* from the test run), a free port."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AILAYER_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["AILAYER_PORT"] = str(port)
    env["AILAYER_URL"] = f"http://127.0.0.1:{port}"
    return env


@contextmanager
def running_up(workdir: Path, environment: dict[str, str], *arguments: str) -> Iterator[Server]:
    """``ailayer up`` (with ``arguments``) as the README's first terminal, stopped with
    Ctrl-C afterwards."""
    log = workdir.parent / "up.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [*ailayer_command(), "up", "--port", environment["AILAYER_PORT"], *arguments],
            cwd=workdir,
            env=environment,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        yield Server(process, log, environment["AILAYER_URL"])
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass(frozen=True)
class Command:
    """A README command line, and the error line it must fail with, if any."""

    line: str
    error: str | None = None  # the README says it fails with this line


def run_step(command: Command, cwd: Path, env: dict[str, str]) -> str:
    """Run ``command`` in ``bash`` as a user would and return its stdout; it must succeed,
    or fail with the error line the README shows."""
    line = command.line.replace(README_URL, env["AILAYER_URL"])
    done = subprocess.run(
        ["bash", "-c", line], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )
    where = f"$ {line}\n--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
    assert "Traceback" not in done.stderr, where
    if command.error is None:
        assert done.returncode == 0, where
    else:
        assert done.returncode == 1 and done.stderr.strip() == command.error, where
    return done.stdout
