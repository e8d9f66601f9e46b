"""Worker roles as a container orchestrator runs them: each serves its metrics,
``/healthz`` and ``/readyz`` (ready only while its dependencies answer) on
``--metrics-port``, and stops cleanly on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request

import pytest
from prometheus_client import CollectorRegistry, Counter

from ailayer.api.metrics import open_metrics
from tests.support.processes import reap
from tests.support.s3server import free_port


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_the_listener_answers_health_readiness_and_metrics() -> None:
    registry = CollectorRegistry()
    Counter("ailayer_test_things", "Things.", registry=registry).inc(3)
    state: dict[str, object] = {"reason": None}

    def ready() -> str | None:
        if isinstance(state["reason"], Exception):
            raise state["reason"]
        return state["reason"]  # type: ignore[return-value]

    port = free_port()
    with open_metrics(registry, f"127.0.0.1:{port}", shared=False, ready=ready):
        base = f"http://127.0.0.1:{port}"
        assert get(f"{base}/healthz") == (200, b'{"status": "ok"}')
        assert get(f"{base}/readyz")[0] == 200
        assert b"ailayer_test_things_total 3.0" in get(f"{base}/metrics")[1]
        state["reason"] = "the metadata database does not answer"
        status, body = get(f"{base}/readyz")
        assert status == 503 and json.loads(body)["reason"] == state["reason"]
        assert get(f"{base}/healthz")[0] == 200  # alive, just not ready
        state["reason"] = ConnectionError("refused")
        status, body = get(f"{base}/readyz")
        assert status == 503 and "ConnectionError: refused" in json.loads(body)["reason"]


@pytest.mark.parametrize(
    ("role", "started"),
    [
        (["monitor", "--interval", "0.2"], "evaluating alert rules every 0.2 s (Ctrl-C stops)"),
        (["controller", "--interval", "0.2"], "judging canaries every 0.2 s (Ctrl-C stops)"),
        (
            ["scheduler", "--interval", "0.2", "--no-alerts"],
            "checking triggers every 0.2 s (Ctrl-C stops)",
        ),
    ],
)
def test_a_worker_role_is_ready_scraped_and_stopped_by_sigterm(tmp_path, role, started) -> None:  # type: ignore[no-untyped-def]
    port = free_port()
    env = {**os.environ, "AILAYER_HOME": str(tmp_path / ".ailayer")}
    argv = [sys.executable, "-c", "from ailayer.cli.main import main; main()", *role]
    worker = subprocess.Popen(
        [*argv, "--metrics-port", str(port)], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        assert worker.stdout is not None
        lines = []
        for line in worker.stdout:
            lines.append(line.strip())
            if line.strip() == started:
                break
        assert lines and lines[-1] == started, lines
        base = f"http://127.0.0.1:{port}"
        assert get(f"{base}/healthz")[0] == 200
        status, body = get(f"{base}/readyz")
        assert (status, json.loads(body)["status"]) == (200, "ready")
        assert b"process_cpu_seconds_total" in get(f"{base}/metrics")[1]
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=30) == 0
    finally:
        reap(worker)
