"""Does micro-batching pay? Throughput and latency of one-record predictions, on vs off.

Two ``ailayer up`` servers, each on a home of its own with the demo fraud model (a
StandardScaler + LogisticRegression pipeline), one with ``AILAYER_MICRO_BATCHING=true``
and one with ``false``, otherwise the same settings. Each is loaded with ``wrk`` (one
thread) POSTing one record to ``/v1/predict/fraud`` at 1, 8, 32 and 64 connections (1: what
the window costs a request that has nobody to share it with). A round
runs every concurrency against both servers, their order alternating between rounds, so
a burst of other work on the machine moves one run rather than one side's result; the
table shows the median over rounds. Beside each run it records the server's CPU time per
request, the machine's 1-minute load average, and (batching on) the mean batch size read
from ``/metrics``.

Run from the repository root (about 5 minutes with the defaults):

    python benchmarks/micro_batching.py
    python benchmarks/micro_batching.py --duration 3 --rounds 1       # quick look
    python benchmarks/micro_batching.py --max-wait-ms 1 --json /tmp/batching.json

Every process it starts is stopped and its temporary directory removed.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path

import harness
from harness import (
    HOST,
    ailayer_argv,
    ailayer_env,
    cpu_busy,
    free_port,
    load_average,
    machine,
    run_wrk,
    server_cpu_seconds,
    start,
    stop,
    wait_ready,
)

from ailayer.core.settings import Settings

CONNECTIONS = (1, 8, 32, 64)  # 1: what the window costs a lone request
SETUP_TIMEOUT_S = 300.0
RECORD = {
    "amount": 1890.0,
    "card_age_days": 2.0,
    "device_new": 1.0,
    "hour_of_day": 3.0,
    "payments_last_24h": 7.0,
    "foreign_country": 1.0,
}


@dataclass
class Run:
    """One wrk run against one server at one concurrency."""

    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    cpu_us: float  # the server's CPU time per request
    load: float  # the machine's 1-minute load average when the run ended
    batch: float  # mean requests per model call during the run (0: batching off)


@dataclass
class Server(harness.Server):
    runs: dict[int, list[Run]] = field(default_factory=dict)


def ailayer_up(name: str, batching: bool, work: Path, extra: dict[str, str]) -> Server:
    folder = work / name
    folder.mkdir()
    port = free_port()
    env = ailayer_env(folder / "home") | {"AILAYER_MICRO_BATCHING": str(batching).lower()}
    return Server(
        name=name,
        argv=ailayer_argv("up", "--host", HOST, "--port", str(port)),
        port=port,
        env=env | extra,
        cwd=folder,
        log=folder / "ailayer.log",
        path="/v1/predict/fraud",
        body=json.dumps(RECORD).encode(),
    )


def bring_up(server: Server) -> None:
    """Start ``ailayer up`` (first run: migrations, the demo model) and wait for a 200."""
    start(server)
    credentials = Path(server.env["AILAYER_HOME"]) / "credentials"
    deadline = time.monotonic() + SETUP_TIMEOUT_S
    while not credentials.exists():
        if time.monotonic() > deadline or server.process.poll() is not None:  # type: ignore[union-attr]
            raise RuntimeError(f"{server.name} did not set up:\n{harness.log_tail(server)}")
        time.sleep(0.5)
    time.sleep(0.5)  # the file is written before the key is usable
    server.headers = {"Authorization": f"Bearer {credentials.read_text().strip()}"}
    wait_ready(server, SETUP_TIMEOUT_S)


def batch_counters(server: Server) -> tuple[float, float]:
    """(model calls, requests) of the server's micro-batches, from ``/metrics``."""
    request = urllib.request.Request(f"http://{HOST}:{server.port}/metrics", headers=server.headers)
    with urllib.request.urlopen(request, timeout=10) as response:
        text = response.read().decode()
    found = {"ailayer_micro_batches_total": 0.0, "ailayer_micro_batched_requests_total": 0.0}
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name in found:
            found[name] = float(value)
    return found["ailayer_micro_batches_total"], found["ailayer_micro_batched_requests_total"]


def measure(server: Server, connections: int, seconds: float, work: Path) -> Run:
    calls0, requests0 = batch_counters(server)
    cpu0 = server_cpu_seconds(server)
    run = run_wrk(server, connections, seconds, work)
    cpu = server_cpu_seconds(server) - cpu0
    calls, requests = (
        a - b for a, b in zip(batch_counters(server), (calls0, requests0), strict=True)
    )
    return Run(
        rps=run.per_s,
        p50_ms=run.p50_ms,
        p99_ms=run.p99_ms,
        errors=run.errors,
        cpu_us=cpu / run.requests * 1e6 if run.requests else 0.0,
        load=load_average(),
        batch=requests / calls if calls else 0.0,
    )


def benchmark(servers: list[Server], args: argparse.Namespace, work: Path) -> None:
    for server in servers:
        run_wrk(server, CONNECTIONS[-1], args.warmup, work)
    for round_ in range(args.rounds):
        order = servers if round_ % 2 == 0 else servers[::-1]
        print(f"  round {round_ + 1}/{args.rounds}", flush=True)
        for connections in CONNECTIONS:
            for server in order:
                run = measure(server, connections, args.duration, work)
                server.runs.setdefault(connections, []).append(run)
                print(f"    {server.name:<4} c={connections:<3} {run}", flush=True)


def median_run(runs: list[Run]) -> Run:
    return Run(
        **{name: statistics.median(getattr(r, name) for r in runs) for name in Run.__annotations__}
    )


def print_table(servers: list[Server]) -> None:
    on, off = servers
    print("\n| c | batching | req/s | p50 ms | p99 ms | CPU µs/req | batch size | load avg |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|")
    for connections in CONNECTIONS:
        for server in (off, on):
            m = median_run(server.runs[connections])
            loads = [r.load for r in server.runs[connections]]
            print(
                f"| {connections} | {server.name} | {m.rps:,.0f} | {m.p50_ms:.2f} | "
                f"{m.p99_ms:.2f} | {m.cpu_us:,.0f} | {m.batch:.1f} | "
                f"{min(loads):.1f} to {max(loads):.1f} |"
            )
    print("\n| c | throughput on / off | p50 on - off (ms) | p99 on - off (ms) |")
    print("|---:|---:|---:|---:|")
    for connections in CONNECTIONS:
        a, b = median_run(on.runs[connections]), median_run(off.runs[connections])
        print(
            f"| {connections} | {a.rps / b.rps:.2f}x | {a.p50_ms - b.p50_ms:+.2f} | "
            f"{a.p99_ms - b.p99_ms:+.2f} |"
        )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds per server")
    defaults = Settings.model_fields  # the server's defaults, unless asked otherwise
    parser.add_argument("--max-batch", type=int, default=defaults["micro_batch_max_rows"].default)
    parser.add_argument(
        "--max-wait-ms", type=float, default=defaults["micro_batch_max_wait_ms"].default
    )
    parser.add_argument("--json", type=Path, help="also write the runs here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if shutil.which("wrk") is None:
        print("needs wrk (Debian: apt-get install wrk)", file=sys.stderr)
        return 2
    extra = {
        "AILAYER_MICRO_BATCH_MAX_ROWS": str(args.max_batch),
        "AILAYER_MICRO_BATCH_MAX_WAIT_MS": str(args.max_wait_ms),
    }
    print(machine())
    print(f"CPU busy before start: {cpu_busy():.0%}; load average {load_average():.2f}")
    work = Path(tempfile.mkdtemp(prefix="ailayer-bench-"))
    servers = [ailayer_up("on", True, work, extra), ailayer_up("off", False, work, extra)]
    try:
        for server in servers:
            bring_up(server)
        print(f"max_batch={args.max_batch} max_wait_ms={args.max_wait_ms}", flush=True)
        benchmark(servers, args, work)
    finally:
        for server in servers:
            stop(server)
        shutil.rmtree(work, ignore_errors=True)
    print_table(servers)
    if args.json:
        runs = {s.name: {c: [asdict(r) for r in rs] for c, rs in s.runs.items()} for s in servers}
        args.json.write_text(json.dumps({"machine": machine(), "runs": runs}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
