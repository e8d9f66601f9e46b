"""A real ``ailayer up`` process in a directory of its own, as a user starts it."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

KEY = re.compile(r"ail_[0-9a-f]{16}_[A-Za-z0-9_-]{20,}")


def ailayer_command() -> list[str]:
    """The installed console script of this interpreter's environment."""
    beside = Path(sys.executable).parent / "ailayer"
    found = str(beside) if beside.exists() else shutil.which("ailayer")
    if found is None:
        pytest.fail("the `ailayer` console script is not installed")
    return [found]


@dataclass
class Up:
    process: subprocess.Popen
    stdout: Path
    stderr: Path
    url: str

    def output(self) -> str:
        return self.stdout.read_text()

    def logs(self) -> str:
        return f"--- stdout\n{self.output()}\n--- stderr\n{self.stderr.read_text()}"

    def wait_for_curl(self, timeout: float) -> str:
        """The curl example, once it is printed in full."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = re.search(r"^curl .*?^  -d '.*?'$", self.output(), re.M | re.S)
            if match:
                return match.group(0)
            assert self.process.poll() is None, f"ailayer up exited early\n{self.logs()}"
            time.sleep(0.1)
        raise AssertionError(f"no curl example within {timeout} s\n{self.logs()}")

    def wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"ailayer up exited early\n{self.logs()}"
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).json() == {"status": "ok"}:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"/healthz did not answer within {timeout} s\n{self.logs()}")

    def stop(self) -> int:
        self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"ailayer up ignored SIGINT\n{self.logs()}") from None


def start(cwd: Path, port: int, run: int, env: dict[str, str] | None = None) -> Up:
    """``ailayer up --port PORT`` in ``cwd``, with ``env`` added to this environment."""
    stdout, stderr = cwd.parent / f"up-{run}.out", cwd.parent / f"up-{run}.err"
    with stdout.open("w") as out, stderr.open("w") as err:
        process = subprocess.Popen(
            [*ailayer_command(), "up", "--port", str(port)],
            cwd=cwd,
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
        )
    return Up(process, stdout, stderr, f"http://127.0.0.1:{port}")
