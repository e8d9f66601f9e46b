"""Cost accounting with the roles apart: a model worker measures the CPU of the calls it
runs for a gateway and writes it when it stops (SIGTERM), so ``ailayer cost`` shows it
beside the predictions the gateway logged."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from ailayer.cli.up import DEMO_EXAMPLE
from tests.support.services import free_port
from tests.support.up import ailayer_command

pytestmark = pytest.mark.e2e


def launch(cwd: Path, log: Path, *args: str) -> subprocess.Popen:
    with log.open("w") as out:
        return subprocess.Popen(
            [*ailayer_command(), *args], cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, env=dict(os.environ),
        )  # fmt: skip


def wait_for(check, what: str, timeout: float = 90) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"{what} not within {timeout} s")


def healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def test_a_model_workers_cpu_reaches_the_cost_report(tmp_path: Path) -> None:
    cwd = tmp_path / "project"
    cwd.mkdir()
    setup = subprocess.run(
        [*ailayer_command(), "up", "--no-serve"], cwd=cwd, capture_output=True, timeout=300
    )
    assert setup.returncode == 0, setup.stderr.decode()
    key = (cwd / ".ailayer" / "credentials").read_text().strip()
    worker_port, gateway_port = free_port(), free_port()
    url = f"http://127.0.0.1:{gateway_port}"
    worker_log, gateway_log = tmp_path / "worker.log", tmp_path / "gateway.log"
    worker = launch(cwd, worker_log, "serve", "--role", "worker", "--port", str(worker_port))
    gateway = launch(
        cwd, gateway_log, "serve", "--role", "gateway", "--port", str(gateway_port),
        "--model-worker", f"127.0.0.1:{worker_port}",
    )  # fmt: skip
    try:
        wait_for(lambda: "model worker on" in worker_log.read_text(), "the worker")
        wait_for(lambda: healthy(url), "the gateway")
        headers = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
            for _ in range(50):
                answer = client.post("/v1/predict/fraud", json=[DEMO_EXAMPLE] * 10)
                assert answer.status_code == 200, answer.text
        for process in (gateway, worker):
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=60) == 0, worker_log.read_text() + gateway_log.read_text()
    finally:
        for process in (gateway, worker):
            if process.poll() is None:
                process.kill()
                process.wait()
    done = subprocess.run(
        [*ailayer_command(), "cost", "--tenant", "default", "--since", "1h", "--json"],
        cwd=cwd, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    [line] = [x for x in json.loads(done.stdout)["endpoints"] if x["endpoint"] == "fraud"]
    assert line["predictions"] >= 500
    assert line["cpu_seconds"] > 0 and line["memory_gib_hours"] > 0
