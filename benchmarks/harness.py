"""What the benchmark scripts share: servers under test, wrk, peers' venvs, the numbers.

A benchmark here is a script run from the repository root (``python benchmarks/NAME.py``);
its folder is first on ``sys.path``, so it imports this module as ``harness`` (and so do
the copies of itself it starts as child processes). A new benchmark should take these
rather than write its own, so that every script starts, loads, stops and reports the
same way:

- ``Server``, ``start``, ``wait_ready``, ``post``, ``stop``: a process under test that
  serves HTTP on 127.0.0.1, in its own process group (``stop`` reaches its workers too,
  also those that left for a session of their own: ``server_processes``),
  its output in a log file (``log_tail`` for errors); ``server_cpu_seconds`` is the CPU
  all those processes have used, which moves much less than throughput when other
  work shares the machine;
- ``run_wrk``: closed-loop load with ``wrk`` (Debian package ``wrk``) and a Lua script
  that POSTs one body and prints one ``RESULT`` line; ``run_python_load``: the same
  closed loop without ``wrk``, or an open loop at a fixed rate (``wrk2`` is not packaged
  in Debian), counting latency from each request's scheduled send time as wrk2 does; a
  ``LoadRun`` back from either;
- ``ensure_venv``: a peer system (Feast, MLflow, Evidently) in a virtual environment
  under ``benchmarks/``, created and installed on first run and reused after;
  ``ensure_model_venv``: one with our scikit-learn and skops, so it loads our model;
- the demo model and who serves it: ``setup_ailayer_home`` (``ailayer up --no-serve``),
  ``export_model`` (its skops artifact, as the peers load it), ``floor_server`` (a bare
  Starlette endpoint calling that model: the floor), ``mlflow_server`` (``mlflow models
  serve`` of it, saved by ``save_mlflow_model``);
- ``free_port``, ``clean_env``, ``machine``, ``cpu_busy``, ``load_average``: the machine
  and the environment the processes get; ``ailayer_argv`` and ``ailayer_env``: the
  ``ailayer`` command of this checkout on a home of its own;
- ``Measure``, ``measure``, ``combine``: one load run with the server's CPU time per
  request and the load average, and the median over rounds (``Server.add`` keeps them
  by kind, ``Server.results`` combines them); ``request`` for any other call to a
  server, ``resident_bytes`` for its memory;
- ``median``, ``percentile``: the numbers, the same way in every report.

Only the standard library at import time: peers' drivers and child processes import it
cheaply (what the floor server and the model export need is imported where they run). Run
as a script, it is one of those child processes: ``harness.py floor SPEC`` serves the
floor, ``harness.py loadgen SPEC`` runs the Python load generator and prints its result.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
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


@dataclass
class Measure:
    """One load run against one server, with the server's CPU time per request (all its
    processes and threads) and the machine's load average as it ended; or the median of
    several (``combine``). Unlike throughput, CPU per request barely moves when other work
    shares the machine, so it checks the throughput ratios."""

    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int = 0
    unfinished: int = 0
    lag_p99_ms: float = 0.0
    rps: float = -1.0
    cpu_us: float = 0.0
    load: float = float("nan")

    def __post_init__(self) -> None:
        if self.rps < 0:
            self.rps = self.requests / self.seconds if self.seconds else 0.0


def combine(runs: list[Measure]) -> Measure:
    """Medians of throughput, percentiles and CPU over rounds; sums of counts; the worst
    generator lag and the highest load average."""
    return Measure(
        requests=sum(m.requests for m in runs),
        seconds=sum(m.seconds for m in runs),
        p50_ms=median([m.p50_ms for m in runs]),
        p99_ms=median([m.p99_ms for m in runs]),
        errors=sum(m.errors for m in runs),
        unfinished=sum(m.unfinished for m in runs),
        lag_p99_ms=max(m.lag_p99_ms for m in runs),
        cpu_us=median([m.cpu_us for m in runs]),
        rps=median([m.rps for m in runs]),
        load=max(m.load for m in runs),
    )


SETTLED_CPU_SHARE = 0.05  # a server using less than this much of a core is done
SETTLE_TIMEOUT_S = 30.0


def settle(cpu_seconds: Callable[[], float], timeout: float = SETTLE_TIMEOUT_S) -> None:
    """Wait until the server has finished what a run left it (work queued behind the
    answers, such as a prediction log catching up): its CPU use below 5 % of a core over
    0.2 s. The next run, of this or another system, then has the machine to itself."""
    deadline = time.monotonic() + timeout
    last = cpu_seconds()
    while time.monotonic() < deadline:
        time.sleep(0.2)
        now = cpu_seconds()
        if now - last < SETTLED_CPU_SHARE * 0.2:
            return
        last = now


def measure(cpu_seconds: Callable[[], float], load: Callable[[], LoadRun]) -> Measure:
    """Run ``load`` and count the CPU time ``cpu_seconds`` reports for the server under it
    (``server_cpu_seconds``, or a sum over the processes of a system of several),
    including what it spends after the load until it settles (``settle``): work it put
    off is work the load cost."""
    before = cpu_seconds()
    run = load()
    settle(cpu_seconds)
    used = cpu_seconds() - before
    return Measure(
        requests=run.requests,
        seconds=run.seconds,
        p50_ms=run.p50_ms,
        p99_ms=run.p99_ms,
        errors=run.errors,
        unfinished=run.unfinished,
        lag_p99_ms=run.lag_p99_ms,
        cpu_us=used / run.requests * 1e6 if run.requests else 0.0,
        load=load_average(),
    )


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


def installed_version(python: Path, distribution: str) -> str | None:
    """The version of ``distribution`` (as pip names it) installed for ``python``; None if
    it is not."""
    code = f"import importlib.metadata as m; print(m.version({distribution!r}))"
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


def ensure_model_venv(venv: Path, pins: list[str]) -> Path:
    """The python of ``venv`` with ``pins`` (``name==version``) and this interpreter's
    scikit-learn and skops versions, so the exported model loads there unchanged."""
    import importlib.metadata as metadata

    ours = [f"{name}=={metadata.version(name)}" for name in ("scikit-learn", "skops")]
    wanted = dict(pin.split("==", 1) for pin in [*pins, *ours])

    def ready(python: Path) -> bool:
        return all(installed_version(python, name) == v for name, v in wanted.items())

    return ensure_venv(venv, [*pins, *ours], ready)


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
    measures: dict[str, list[Measure]] = field(default_factory=dict)  # by kind of run

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}{self.path}"

    def add(self, kind: str, measure: Measure) -> None:
        self.measures.setdefault(kind, []).append(measure)

    @property
    def results(self) -> dict[str, Measure]:
        """Each kind of run, combined over its rounds (``combine``)."""
        return {kind: combine(runs) for kind, runs in self.measures.items()}


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
    return request(server, "POST", server.path, server.body if body is None else body, timeout)


def request(
    server: Server,
    method: str,
    path: str,
    body: bytes | None = None,
    timeout: float = RESPONSE_TIMEOUT_S,
    headers: dict[str, str] | None = None,
) -> tuple[int, bytes]:
    """Any request to the server with its headers, or ``headers`` instead (JSON body); the
    status and the answer."""
    conn = http.client.HTTPConnection(HOST, server.port, timeout=timeout)
    try:
        headers = {
            "Content-Type": "application/json",
            **(server.headers if headers is None else headers),
        }
        conn.request(method, path, body=body, headers=headers)
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
    """SIGTERM the server's process group, SIGKILL it if it lingers; then SIGKILL any
    process it started in a session of its own (BentoML's workers) that outlived it."""
    process = server.process
    if process is None or process.poll() is not None:
        return
    tree = server_processes(server)
    for sig, grace in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(grace)
            break
    for pid in tree - {process.pid}:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def log_tail(server: Server, lines: int = 30) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(server.log.read_text(errors="replace").splitlines()[-lines:])
    return ""


def process_table() -> dict[int, tuple[int, int, int]]:
    """Every process now: pid -> (parent pid, process group, user + system CPU ticks)."""
    table = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            table[int(stat.parent.name)] = (
                int(fields[1]),
                int(fields[2]),
                int(fields[11]) + int(fields[12]),
            )
    return table


def server_processes(
    server: Server, table: dict[int, tuple[int, int, int]] | None = None
) -> set[int]:
    """The server's process group (``start`` made its pid the group) and every process
    descending from it, also those that moved to a session of their own."""
    assert server.process is not None
    table = process_table() if table is None else table
    found = {pid for pid, (_, group, _) in table.items() if group == server.process.pid}
    while True:
        more = {pid for pid, (parent, _, _) in table.items() if parent in found} - found
        if not more:
            return found
        found |= more


def server_cpu_seconds(server: Server) -> float:
    """User + system CPU of every process of the server (``server_processes``, Linux /proc)."""
    table = process_table()
    ticks = sum(table[pid][2] for pid in server_processes(server, table))
    return ticks / os.sysconf("SC_CLK_TCK")


def resident_bytes(server: Server) -> int:
    """The resident set of the server's main process (``VmRSS``, Linux /proc)."""
    assert server.process is not None
    for line in Path(f"/proc/{server.process.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for {server.name}")


# --- load: wrk -------------------------------------------------------------------------------

WRK_LUA = """
wrk.method = "POST"
wrk.body = [==[{body}]==]
{headers}
{delay}
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %d %d %d %d %d\\n", summary.requests, summary.duration,
    e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


@dataclass(frozen=True)
class LoadRun:
    """What one load run measured: requests completed, its length, errors, latencies; for
    an open loop also the requests still unanswered at its end and how late the generator
    itself released requests (p99; counted in the latencies)."""

    requests: int
    seconds: float
    errors: int
    p50_ms: float
    p99_ms: float
    unfinished: int = 0
    lag_p99_ms: float = 0.0

    @property
    def per_s(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def wrk_script(server: Server, body: bytes, work: Path, think_ms: int = 0) -> Path:
    """The Lua script that POSTs ``body`` with the server's headers, written into ``work``;
    with ``think_ms``, each connection waits a random 0 to 2 x ``think_ms`` between its
    requests (random: connections that started together do not stay in step)."""
    headers = {"Content-Type": "application/json", **server.headers}
    lines = "\n".join(f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items())
    delay = f"delay = function() return math.random(0, {2 * think_ms}) end" if think_ms else ""
    path = work / f"{server.name}.lua"
    path.write_text(WRK_LUA.format(body=body.decode(), headers=lines, delay=delay))
    return path


def run_wrk(
    server: Server,
    connections: int,
    seconds: float,
    work: Path,
    body: bytes | None = None,
    path: str | None = None,
    think_ms: int = 0,
) -> LoadRun:
    """``wrk`` with one thread and ``connections`` connections for ``seconds`` (whole
    seconds, at least 1), POSTing ``body`` (default: the server's) to ``path`` (default:
    the server's); each connection waits about ``think_ms`` between requests
    (``wrk_script``), so ``connections`` x 1000 / ``think_ms`` a second at most."""
    script = wrk_script(server, server.body if body is None else body, work, think_ms)
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "5s"]
    url = server.url if path is None else f"http://{HOST}:{server.port}{path}"
    argv += ["-s", str(script), url]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60, check=True)
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no RESULT line:\n{done.stdout}\n{done.stderr}")
    requests, duration_us, errors, p50_us, p99_us = (int(x) for x in line.split()[1:])
    return LoadRun(requests, duration_us / 1e6, errors, p50_us / 1e3, p99_us / 1e3)


# --- load: the Python generator (a child process: ``harness.py loadgen SPEC``) -------------


def run_python_load(
    server: Server,
    seconds: float,
    connections: int,
    rate: float | None = None,
    body: bytes | None = None,
    niceness: int | None = None,
) -> LoadRun:
    """``connections`` keep-alive connections POSTing ``body`` (default: the server's) for
    ``seconds``: a closed loop (each sends its next request when the last one returns), or
    with ``rate`` an open loop, requests scheduled at that many per second and latency
    counted from each one's scheduled time. Run in a child process, so that the generator
    has an interpreter of its own, at ``niceness`` (default ``GENERATOR_NICENESS``)."""
    spec = {"raw": raw_request(server, body).decode("latin-1"), "port": server.port}
    spec |= {"seconds": seconds, "connections": connections, "rate": rate}
    spec |= {"niceness": GENERATOR_NICENESS if niceness is None else niceness}
    argv = [sys.executable, str(Path(__file__).resolve()), "loadgen", "-"]  # SPEC on stdin:
    done = subprocess.run(  # a 1,000-record body is longer than one argument may be
        argv,
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        timeout=seconds * 3 + 60,
        check=True,
    )
    return LoadRun(**json.loads(done.stdout.strip().splitlines()[-1]))


def raw_request(server: Server, body: bytes | None = None) -> bytes:
    """The bytes of one HTTP/1.1 POST of ``body`` (default: the server's) to the server."""
    body = server.body if body is None else body
    headers = {"Host": f"{HOST}:{server.port}", "Content-Type": "application/json"}
    headers |= server.headers | {"Content-Length": str(len(body))}
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return f"POST {server.path} HTTP/1.1\r\n{head}\r\n".encode() + body


async def exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, raw: bytes) -> int:
    """Send one keep-alive request and read its response; return the status code."""
    writer.write(raw)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = next(
        (
            int(ln.split(b":", 1)[1])
            for ln in head.split(b"\r\n")
            if ln.lower().startswith(b"content-length:")
        ),
        None,
    )
    if length is None:
        raise RuntimeError("response without Content-Length")
    await reader.readexactly(length)
    return status


class Connection:
    """One keep-alive connection that reconnects after a failed exchange."""

    def __init__(self, port: int, raw: bytes) -> None:
        self.port, self.raw = port, raw
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def send(self) -> bool:
        """One request; True for a 200, False for any other status or failure."""
        try:
            if self.streams is None:
                self.streams = await asyncio.open_connection(HOST, self.port, limit=1 << 24)
            exchanged = exchange(*self.streams, self.raw)
            return await asyncio.wait_for(exchanged, RESPONSE_TIMEOUT_S) == 200
        except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError, RuntimeError):
            self.close()
            return False

    def close(self) -> None:
        if self.streams is not None:
            self.streams[1].close()
            self.streams = None


async def closed_loop(spec: dict) -> dict:
    """``connections`` clients, each sending its next request when the last one returns."""
    raw, port = spec["raw"].encode("latin-1"), spec["port"]
    clock = time.perf_counter  # uvloop's loop.time() only ticks in milliseconds
    deadline = clock() + spec["seconds"]
    latencies: list[float] = []
    errors = 0

    async def client() -> None:
        nonlocal errors
        connection = Connection(port, raw)
        while clock() < deadline:
            sent = clock()
            ok = await connection.send()  # not `errors += await ...`: that loses updates
            errors += not ok
            latencies.append(clock() - sent)
        connection.close()

    started = clock()
    await asyncio.gather(*(client() for _ in range(spec["connections"])))
    return load_summary(latencies, errors, clock() - started)


async def paced(spec: dict) -> dict:
    """Open loop: requests scheduled at a fixed rate, latency counted from the schedule.

    A request waits in the queue while every connection is busy, and that wait counts:
    a server that stalls cannot hide it by slowing the generator down (wrk2 counts the
    same way; a closed loop would not).
    """
    raw, port, rate = spec["raw"].encode("latin-1"), spec["port"], spec["rate"]
    total = max(1, int(rate * spec["seconds"]))
    clock = time.perf_counter
    queue: asyncio.Queue[float | None] = asyncio.Queue()
    latencies: list[float] = []
    lags: list[float] = []  # how late the generator itself released each request
    errors = 0

    async def client() -> None:
        nonlocal errors
        connection = Connection(port, raw)
        while (scheduled := await queue.get()) is not None:
            ok = await connection.send()  # not `errors += await ...`: that loses updates
            errors += not ok
            latencies.append(clock() - scheduled)
        connection.close()

    async def schedule(clients: int) -> None:
        first = clock() + 0.05
        for i in range(total):
            due = first + i / rate
            if due > clock():
                await asyncio.sleep(due - clock())
            lags.append(clock() - due)
            queue.put_nowait(due)
        for _ in range(clients):
            queue.put_nowait(None)

    started = clock()
    clients = [asyncio.ensure_future(client()) for _ in range(spec["connections"])]
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(
            asyncio.gather(schedule(len(clients)), *clients), spec["seconds"] * 2 + 5
        )
    result = load_summary(latencies, errors, clock() - started)
    result["unfinished"] = total - len(latencies)
    result["lag_p99_ms"] = percentile(sorted(lags), 99) * 1e3
    return result


def load_summary(latencies: list[float], errors: int, seconds: float) -> dict:
    ordered = sorted(latencies)
    return {
        "requests": len(ordered),
        "seconds": seconds,
        "p50_ms": percentile(ordered, 50) * 1e3,
        "p99_ms": percentile(ordered, 99) * 1e3,
        "errors": errors,
    }


GENERATOR_NICENESS = -5  # above the servers: a generator that waits for a core adds lag


def loadgen_main(spec: dict) -> None:
    """The Python generator, raised above the servers it loads where the system lets it
    (root): on a 2-core machine, the server, its helpers and the generator share the
    cores, and a generator kept waiting releases requests late; an open loop counts that
    lag in every system's latency (as wrk2 would), though no server caused it."""
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, 0, spec.get("niceness", GENERATOR_NICENESS))
    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.install()
    runner = paced if spec.get("rate") else closed_loop
    print(json.dumps(asyncio.run(runner(spec))))


# --- the demo model, and the floor that serves it (``harness.py floor SPEC``) --------------

DEMO_ENDPOINT = "fraud"


def home_settings(home: Path):  # type: ignore[no-untyped-def]
    """ailayer's settings for the embedded stores of ``home``, and nothing from outside."""
    from ailayer.core.settings import Settings

    return Settings(
        home=home,
        metadata_url=f"sqlite:///{home / 'meta.db'}",
        artifacts=f"file://{home}/artifacts",
    )


def setup_ailayer_home(work: Path) -> tuple[Path, str]:
    """Run ``ailayer up --no-serve`` in ``work``: a home with the demo fraud model (a
    StandardScaler + LogisticRegression pipeline) as ``champion``; the home and the admin
    key."""
    home = work / "home"
    log = work / "ailayer-up.log"
    with log.open("wb") as out:
        subprocess.run(
            ailayer_argv("up", "--no-serve"),
            cwd=work,
            env=ailayer_env(home),
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=300,
            check=True,
        )
    return home, (home / "credentials").read_text().strip()


def export_model(home: Path, key: str, out: Path) -> list[str]:
    """Write the skops artifact the demo endpoint serves to ``out``; its trusted types
    (what ``skops.io.loads`` must be told to build it)."""
    from ailayer.bootstrap import build
    from ailayer.models.flavors.skops_audit import audit

    services = build(home_settings(home), migrate=False)
    try:
        tenant_id = services.keys.authenticate(key).tenant_id
        version = services.registry.resolve_alias(tenant_id, DEMO_ENDPOINT, "champion")
        data = services.registry.load_artifact(tenant_id, version)
    finally:
        services.close()
    out.write_bytes(data)
    return audit(data)


def floor_app(model_path: Path, trusted: list[str], features: list[str]):  # type: ignore[no-untyped-def]
    """The least a Python HTTP prediction can do: parse (one record or a list of them),
    build the NumPy rows, predict_proba, answer ``{"scores": [...]}``."""
    import numpy as np
    import orjson
    import skops.io as sio
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    model = sio.loads(model_path.read_bytes(), trusted=trusted)

    async def predict(request: Request) -> Response:
        data = orjson.loads(await request.body())
        records = data if isinstance(data, list) else [data]
        rows = np.array([[r[name] for name in features] for r in records], dtype=np.float64)
        scores = model.predict_proba(rows)[:, 1].tolist()
        return Response(orjson.dumps({"scores": scores}), media_type="application/json")

    return Starlette(routes=[Route("/predict", predict, methods=["POST"])])


def floor_main(spec: dict) -> None:
    import uvicorn

    app = floor_app(Path(spec["model"]), spec["trusted"], spec["features"])
    uvicorn.run(app, host=HOST, port=spec["port"], log_level="warning", access_log=False)


def floor_server(
    model: Path, trusted: list[str], features: list[str], body: bytes, work: Path
) -> Server:
    """The floor: one uvicorn process (its default event loop) serving ``floor_app``."""
    port = free_port()
    spec = {"model": str(model), "trusted": trusted, "features": features, "port": port}
    return Server(
        name="floor",
        argv=[sys.executable, str(Path(__file__).resolve()), "floor", json.dumps(spec)],
        port=port,
        path="/predict",
        body=body,
        env=clean_env(),
        cwd=work,
        log=work / "floor.log",
    )


# --- MLflow: ``mlflow models serve`` of the same estimator ------------------------------------

MLFLOW_PIN = "mlflow==3.17.2"  # 3.18.0 needs an mlflow-tracing this machine's index lacks

MLFLOW_SAVE = """
import json, sys
import mlflow.sklearn, pandas as pd, skops.io as sio, sklearn
from mlflow.models import infer_signature
model_path, trusted, features, out = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3]), sys.argv[4]
model = sio.loads(open(model_path, "rb").read(), trusted=trusted)
example = pd.DataFrame([[0.0] * len(features)], columns=features)
mlflow.sklearn.save_model(
    model, out, pyfunc_predict_fn="predict_proba",
    signature=infer_signature(example, model.predict_proba(example.to_numpy())),
    pip_requirements=[f"scikit-learn=={sklearn.__version__}"],
)
"""


def mlflow_env(python: Path) -> dict[str, str]:
    """The venv first on PATH (``mlflow models serve`` runs ``uvicorn`` from it), no telemetry."""
    path = f"{python.parent}{os.pathsep}{os.environ.get('PATH', '')}"
    return clean_env(PATH=path, MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true")


def save_mlflow_model(
    python: Path, model: Path, trusted: list[str], features: list[str], out: Path
) -> None:
    """Save the skops model at ``model`` with ``mlflow.sklearn`` (predict_proba) to ``out``."""
    argv = [str(python), "-c", MLFLOW_SAVE, str(model), json.dumps(trusted)]
    argv += [json.dumps(features), str(out)]
    subprocess.run(argv, env=mlflow_env(python), check=True, timeout=600, capture_output=True)


def mlflow_server(python: Path, model_dir: Path, body: bytes, work: Path) -> Server:
    """``mlflow models serve`` with one worker; ``body`` is ``dataframe_split`` JSON."""
    port = free_port()
    argv = [str(python.parent / "mlflow"), "models", "serve", "-m", str(model_dir)]
    argv += ["--env-manager", "local", "--no-conda", "-w", "1", "-h", HOST, "-p", str(port)]
    return Server(
        name="mlflow",
        argv=argv,
        port=port,
        path="/invocations",
        body=body,
        env=mlflow_env(python),
        cwd=work,
        log=work / "mlflow.log",
    )


def dataframe_split(features: list[str], records: list[dict[str, float]]) -> bytes:
    """Records as the ``dataframe_split`` JSON that ``mlflow models serve`` reads."""
    rows = [[record[name] for name in features] for record in records]
    return json.dumps({"dataframe_split": {"columns": features, "data": rows}}).encode()


if __name__ == "__main__":
    # harness.py floor|loadgen SPEC: the child processes the functions above start
    # (SPEC "-": read it from stdin)
    CHILDREN = {"floor": floor_main, "loadgen": loadgen_main}
    SPEC_TEXT = sys.stdin.read() if sys.argv[2] == "-" else sys.argv[2]
    CHILDREN[sys.argv[1]](json.loads(SPEC_TEXT))
