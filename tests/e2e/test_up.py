"""``ailayer up`` as a user runs it: a real process in an empty directory, the printed
curl run as printed, then a restart that keeps the key and the model it made."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support.services import free_port

pytestmark = pytest.mark.e2e

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


def start(cwd: Path, port: int, run: int) -> Up:
    stdout, stderr = cwd.parent / f"up-{run}.out", cwd.parent / f"up-{run}.err"
    with stdout.open("w") as out, stderr.open("w") as err:
        process = subprocess.Popen(
            [*ailayer_command(), "up", "--port", str(port)],
            cwd=cwd,
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
        )
    return Up(process, stdout, stderr, f"http://127.0.0.1:{port}")


def run_curl(curl: str, cwd: Path) -> dict:
    done = subprocess.run(
        ["bash", "-c", curl], cwd=cwd, capture_output=True, text=True, timeout=15, check=False
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def assert_demo_prediction(answer: dict) -> None:
    assert (answer["model"], answer["version"], answer["alias"]) == ("fraud", 1, "champion")
    [item] = answer["predictions"]
    assert isinstance(item["score"], float) and 0.0 <= item["score"] <= 1.0
    assert isinstance(item["prediction"], bool | int)


def test_up_sets_up_once_serves_a_working_curl_and_restarts_without_redoing_it(
    tmp_path: Path,
) -> None:
    cwd = tmp_path / "project"
    cwd.mkdir()
    port = free_port()
    credentials = cwd / ".ailayer" / "credentials"
    started = time.monotonic()

    first = start(cwd, port, run=1)
    try:
        curl = first.wait_for_curl(timeout=40)
        first.wait_healthy(timeout=10)
        assert f"http://127.0.0.1:{port}/v1/predict/fraud" in curl
        assert_demo_prediction(run_curl(curl, cwd))

        assert stat.S_IMODE(os.stat(credentials).st_mode) == 0o600
        key = credentials.read_text().strip()
        printed = KEY.findall(first.output())
        assert printed == [key], first.logs()  # shown once, and it is the stored key
        headers = {"Authorization": f"Bearer {key}"}
        [model] = httpx.get(f"{first.url}/v1/models", headers=headers, timeout=5).json()
        assert (model["name"], model["latest_version"]) == ("fraud", 1)
        assert "Registered fraud v1" in first.output()
        scratch = Path(os.readlink(f"/proc/{first.process.pid}/cwd"))  # models run there
        assert scratch != cwd and scratch.name.startswith("ailayer-scratch-")
        assert first.stop() == 0, first.logs()  # Ctrl-C is a clean stop
        assert not scratch.exists()
        assert "Traceback" not in first.logs()
    finally:
        if first.process.poll() is None:
            first.process.kill()
            first.process.wait()

    second = start(cwd, port, run=2)
    try:
        assert second.wait_for_curl(timeout=20) == curl
        second.wait_healthy(timeout=10)
        output = second.output()
        assert KEY.findall(output) == [], output  # no new key
        assert "Created the admin API key" not in output
        assert "Registered" not in output and "training" not in output  # no new model
        assert credentials.read_text().strip() == key
        assert_demo_prediction(run_curl(curl, cwd))
        headers = {"Authorization": f"Bearer {key}"}
        model = httpx.get(f"{second.url}/v1/models/fraud", headers=headers, timeout=5).json()
        assert [v["version"] for v in model["versions"]] == [1]
        assert second.stop() == 0, second.logs()
        assert "Traceback" not in second.logs()
    finally:
        if second.process.poll() is None:
            second.process.kill()
            second.process.wait()
    assert time.monotonic() - started < 60
