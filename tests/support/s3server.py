"""Run moto's standalone S3 server as a real subprocess on loopback.

The artifact contract suite talks to it over HTTP with boto3, exactly as it would talk to
MinIO or AWS, so the S3 backend is exercised end to end rather than through moto's
in-process mocks.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

STARTUP_TIMEOUT = 30.0


def free_port() -> int:
    """A port nobody listens on right now (the server binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/moto-api/", timeout=1) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _wait_until_up(process: subprocess.Popen, url: str, log_path: str) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"moto server exited with {process.returncode}: {_tail(log_path)}")
        if _answers(url):
            return
        time.sleep(0.1)
    raise RuntimeError(f"moto server did not answer on {url} in time: {_tail(log_path)}")


def _tail(log_path: str) -> str:
    with open(log_path, errors="replace") as handle:
        return handle.read()[-2000:]


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@contextlib.contextmanager
def running_s3_server(env: dict[str, str] | None = None) -> Iterator[str]:
    """Start ``python -m moto.server`` on a free loopback port; yield its endpoint URL.

    The server's output goes to a temporary log (not a pipe, which could fill up and
    block it) and is shown if it fails to start. The process is stopped on exit.
    """
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_fd, log_path = tempfile.mkstemp(prefix="moto-server-", suffix=".log")
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    try:
        with os.fdopen(log_fd, "wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
            )
        try:
            _wait_until_up(process, url, log_path)
            yield url
        finally:
            _stop(process)
    finally:
        os.unlink(log_path)
