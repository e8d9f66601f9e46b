"""What the benchmark scripts share: servers under test, wrk, peers' venvs, the numbers.

A benchmark here is a script run from the repository root (``python benchmarks/NAME.py``);
its folder is first on ``sys.path``, so it imports this module as ``harness`` (and so do
the copies of itself it starts as child processes). A new benchmark should take these
rather than write its own, so that every script starts, loads, stops and reports the
same way:

- ``Server``, ``start``, ``wait_ready``, ``post``, ``stop``: a process under test that
  serves HTTP on 127.0.0.1, in its own process group (``stop`` reaches its workers too),
  its output in a log file (``log_tail`` for errors); ``server_cpu_seconds`` is the CPU
  its whole process group has used, which moves much less than throughput when other
  work shares the machine;
- ``run_wrk``: closed-loop load with ``wrk`` (Debian package ``wrk``) and a Lua script
  that POSTs one body and prints one ``RESULT`` line; a ``WrkRun`` back;
- ``ensure_venv``: a peer system (Feast, MLflow, Evidently) in a virtual environment
  under ``benchmarks/``, created and installed on first run and reused after;
- ``free_port``, ``clean_env``, ``machine``, ``cpu_busy``, ``load_average``: the machine
  and the environment the processes get; ``ailayer_argv`` and ``ailayer_env``: the
  ``ailayer`` command of this checkout on a home of its own;
- ``median``, ``percentile``: the numbers, the same way in every report.

Only the standard library: peers' drivers and child processes import it cheaply.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

HOST = "127.0.0.1"
RESPONSE_TIMEOUT_S = 10.0
SETTINGS_PREFIXES = ("AILAYER_", "FEAST_")  # settings of the systems under test


# --- numbers ---------------------------------------------------------------------------------


def median(values: list[float]) -> float:
    """The median; NaN for no values (a run that measured nothing shows as such)."""
    return statistics.median(values) if values else float("nan")


def percentile(sorted_values: list[float], pct: float) -> float:
    """The nearest-rank ``pct`` percentile of already sorted values; NaN for none."""
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(pct / 100 * len(sorted_values)) - 1))
    return sorted_values[index]


# --- the machine and the environment ---------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without AILAYER_* / FEAST_* settings, plus ``extra``: each system
    runs on the settings the benchmark gives it, not on the shell's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(SETTINGS_PREFIXES)}
    env.update(extra)
    return env


def machine() -> str:
    """Cores, CPU model and Python version, for the report's header."""
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return f"{os.cpu_count()} cores, {cpu}, Python {platform.python_version()}"


def cpu_busy(seconds: float = 2.0) -> float | None:
    """The machine's busy CPU fraction over ``seconds`` (Linux), before we load it."""

    def sample() -> tuple[int, int]:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = fields[3] + fields[4]  # idle + iowait
        return sum(fields[:8]) - idle, sum(fields[:8])

    try:
        busy0, total0 = sample()
        time.sleep(seconds)
        busy1, total1 = sample()
    except (OSError, ValueError, IndexError):
        return None
    return (busy1 - busy0) / max(1, total1 - total0)


def load_average() -> float:
    """The 1-minute load average (runnable processes), recorded beside each run."""
    try:
        return os.getloadavg()[0]
    except OSError:
        return float("nan")


def ailayer_env(home: Path) -> dict[str, str]:
    """A clean environment for ``ailayer`` on ``home``, reading no ``ailayer.yaml``."""
    return clean_env(AILAYER_HOME=str(home), AILAYER_CONFIG=str(home.parent / "none.yaml"))


def ailayer_argv(*args: str) -> list[str]:
    """The ``ailayer`` command as this interpreter imports it (the checkout under test)."""
    return [sys.executable, "-c", "from ailayer.cli.main import main; main()", *args]


# --- peers in virtual environments -----------------------------------------------------------


def imports(python: Path, *modules: str) -> bool:
    """Whether ``python`` can import every one of ``modules``."""
    code = f"import {', '.join(modules)}"
    return (
        subprocess.run([str(python), "-c", code], capture_output=True, timeout=300).returncode == 0
    )


def installed_version(python: Path, module: str) -> str | None:
    """``module.__version__`` as ``python`` imports it; None if it cannot."""
    code = f"import {module}; print({module}.__version__)"
    done = subprocess.run([str(python), "-c", code], capture_output=True, text=True, timeout=300)
    return done.stdout.strip() if done.returncode == 0 else None


def ensure_venv(venv: Path, packages: list[str], ready: Callable[[Path], bool]) -> Path:
    """The python of ``venv``: created on first use, ``packages`` installed into it unless
    ``ready(python)`` finds them there already."""
    python = venv / "bin" / "python"
    if not python.exists():
        print(f"creating {venv} ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    (venv / ".gitignore").write_text("*\n")  # as Python 3.13's venv does: never commit it
    if ready(python):
        return python
    print(f"installing {' '.join(packages)} into it (one time, a few minutes) ...", flush=True)
    pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    subprocess.run([*pip, *packages], check=True, timeout=1800)
    return python


# --- servers under test ----------------------------------------------------------------------


@dataclass
class Server:
    """A server process under test and the request that asks it for one answer."""

    name: str
    argv: list[str]
    port: int
    env: dict[str, str]
    cwd: Path
    log: Path
    path: str = ""
    body: bytes = b""  # what ``post`` and ``run_wrk`` send unless given another body
    headers: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}{self.path}"


def start(server: Server) -> None:
    with server.log.open("ab") as out:
        server.process = subprocess.Popen(
            server.argv,
            cwd=server.cwd,
            env=server.env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so stop() reaches its children
        )


def post(
    server: Server, body: bytes | None = None, timeout: float = RESPONSE_TIMEOUT_S
) -> tuple[int, bytes]:
    """POST ``body`` (default: the server's) as JSON; the status and the response body."""
    conn = http.client.HTTPConnection(HOST, server.port, timeout=timeout)
    try:
        headers = {"Content-Type": "application/json", **server.headers}
        conn.request(
            "POST", server.path, body=server.body if body is None else body, headers=headers
        )
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def wait_ready(server: Server, timeout: float, body: bytes | None = None) -> bytes:
    """Poll with a real request until it answers 200 (its answer is returned), the
    process dies, or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert server.process is not None
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.name} exited early:\n{log_tail(server)}")
        with contextlib.suppress(OSError, http.client.HTTPException):
            status, answer = post(server, body, timeout=5)
            if status == 200:
                return answer
            raise RuntimeError(f"{server.name} answered {status}: {answer[:300]!r}")
        time.sleep(0.25)
    raise RuntimeError(f"{server.name} not ready after {timeout:.0f} s:\n{log_tail(server)}")


def stop(server: Server) -> None:
    """SIGTERM the server's process group, SIGKILL it if it lingers."""
    process = server.process
    if process is None or process.poll() is not None:
        return
    for sig, grace in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(grace)
            return


def log_tail(server: Server, lines: int = 30) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(server.log.read_text(errors="replace").splitlines()[-lines:])
    return ""


def server_cpu_seconds(server: Server) -> float:
    """User + system CPU of every process in the server's process group (Linux /proc)."""
    assert server.process is not None
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == server.process.pid:  # pgrp: start() made the pid the group
                ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


# --- load: wrk -------------------------------------------------------------------------------

WRK_LUA = """
wrk.method = "POST"
wrk.body = [==[{body}]==]
{headers}
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %d %d %d %d %d\\n", summary.requests, summary.duration,
    e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


@dataclass(frozen=True)
class WrkRun:
    """What one wrk run measured: requests completed, its length, errors, latencies."""

    requests: int
    seconds: float
    errors: int
    p50_ms: float
    p99_ms: float

    @property
    def per_s(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def wrk_script(server: Server, body: bytes, work: Path) -> Path:
    """The Lua script that POSTs ``body`` with the server's headers, written into ``work``."""
    headers = {"Content-Type": "application/json", **server.headers}
    lines = "\n".join(f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items())
    path = work / f"{server.name}.lua"
    path.write_text(WRK_LUA.format(body=body.decode(), headers=lines))
    return path


def run_wrk(
    server: Server, connections: int, seconds: float, work: Path, body: bytes | None = None
) -> WrkRun:
    """``wrk`` with one thread and ``connections`` connections for ``seconds`` (whole
    seconds, at least 1), POSTing ``body`` (default: the server's)."""
    script = wrk_script(server, server.body if body is None else body, work)
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "5s"]
    argv += ["-s", str(script), server.url]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60, check=True)
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no RESULT line:\n{done.stdout}\n{done.stderr}")
    requests, duration_us, errors, p50_us, p99_us = (int(x) for x in line.split()[1:])
    return WrkRun(requests, duration_us / 1e6, errors, p50_us / 1e3, p99_us / 1e3)
