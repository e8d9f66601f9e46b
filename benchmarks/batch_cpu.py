"""CPU time per 1,000-record prediction request: the server process and its log process.

Throughput on a shared 2-core machine moves with whatever else runs; the CPU a request
costs barely does. This script starts ``ailayer serve`` (on a home set up by ``ailayer up
--no-serve``, as ``serving.py`` does) serving the demo fraud model, in its original and
its compiled (ONNX) form, sends the same 1,000-record body ``--requests`` times from
``--connections`` keep-alive connections at ``--rate`` a second (the Python open-loop
generator in ``harness.py``: a pace the log keeps up with even on a busy machine), waits until the server has settled (its log process written what it was
handed), and reports the CPU time per request of the server process and of its
prediction-log process separately, with the response size and the log's rows written
and dropped (the log must be complete: a figure bought by dropping rows is no figure).

Run from the repository root:

    python benchmarks/batch_cpu.py                       # ~1 minute
    python benchmarks/batch_cpu.py --requests 1000 --rounds 3 --json /tmp/batch_cpu.json
    python benchmarks/batch_cpu.py --forms original --closed 5 --rounds 4 --against DIR
    python benchmarks/batch_cpu.py --forms original --closed 5 --rounds 4 --columns --against .

``--closed SECONDS`` loads each server to saturation instead (``wrk``, 8 connections, as
``serving.py``'s batch runs) and adds its rows/s: with ``--against``, two checkouts'
throughput in turns, the order swapped each round.

The numbers it prints are CPU time, not throughput: the throughput run of
``serving.py`` still needs a quiet machine. Every process it starts is stopped and its
temporary directory removed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from harness import (
    DEMO_ENDPOINT,
    HOST,
    Server,
    ailayer_argv,
    ailayer_env,
    free_port,
    load_average,
    machine,
    process_table,
    request,
    run_python_load,
    run_wrk,
    server_processes,
    settle,
    setup_ailayer_home,
    start,
    stop,
    wait_ready,
)
from serving import BATCH_ROWS, log_counts, set_serving

STARTUP_TIMEOUT_S = 180.0
CLOSED_CONNECTIONS = 8  # as serving.py's closed-loop runs
FORMS = ("original", "compiled")


@dataclass
class Round:
    """One measured round of one form: CPU per request by process, the log's rows."""

    requests: int
    server_ms: float
    log_ms: float
    written: float
    dropped: float
    rows_per_s: float = 0.0  # with --closed: the closed loop's throughput

    @property
    def total_ms(self) -> float:
        return self.server_ms + self.log_ms


def cpu_by_process(server: Server) -> tuple[float, float]:
    """CPU seconds of the server's own process, and of every other process of its tree
    (the prediction log's child)."""
    assert server.process is not None
    table = process_table()
    ticks = {pid: table[pid][2] for pid in server_processes(server, table)}
    tick = 1 / os.sysconf("SC_CLK_TCK")
    main = ticks.pop(server.process.pid, 0)
    return main * tick, sum(ticks.values()) * tick


def batch_body() -> bytes:
    """The 1,000 records ``serving.py`` sends (``json.dumps`` of a list of records)."""
    from ailayer.simulate import fraud_training_frame, simulate

    frame, _labels = fraud_training_frame(simulate(seed=3, n_payments=BATCH_ROWS + 200))
    return json.dumps(frame.head(BATCH_ROWS).astype(float).to_dict(orient="records")).encode()


def ailayer_server(
    home: Path, key: str, name: str, work: Path, body: bytes, source: Path | None
) -> Server:
    """``ailayer serve`` on a copy of ``home``; ``source``: another checkout's ``src``
    to run instead of this one's."""
    here = work / name
    here.mkdir()
    copy = here / "home"
    shutil.copytree(home, copy)
    port = free_port()
    env = ailayer_env(copy)
    if source is not None:
        env["PYTHONPATH"] = str(source)
    return Server(
        name=name,
        argv=ailayer_argv("serve", "--host", HOST, "--port", str(port)),
        port=port,
        env=env,
        cwd=here,
        log=here / "server.log",
        path=f"/v1/predict/{DEMO_ENDPOINT}",
        headers={"Authorization": f"Bearer {key}"},
        body=body,
    )


def measure_round(server: Server, key: str, args: argparse.Namespace) -> Round:
    """``args.requests`` batch requests at ``args.rate`` a second (open loop: a pace the
    log keeps up with on a busy machine, so every row's cost is counted), CPU counted
    until the server has settled and its log process has written what it was handed."""
    cpu = lambda: sum(cpu_by_process(server))  # noqa: E731
    settle(cpu)
    before_log = log_counts(server, key)
    server_0, log_0 = cpu_by_process(server)
    if args.closed:  # saturation: wrk's 8 connections, each sending when answered
        run = run_wrk(server, CLOSED_CONNECTIONS, args.closed, args.work)
    else:
        run = run_python_load(server, args.requests / args.rate, args.connections, args.rate)
    if run.errors:
        raise RuntimeError(f"{server.name}: {run.errors} requests failed")
    settle(cpu)
    time.sleep(1.5)  # past the log's flush interval: what it holds is written
    settle(cpu)
    server_1, log_1 = cpu_by_process(server)
    after_log = log_counts(server, key)
    return Round(
        requests=run.requests,
        server_ms=(server_1 - server_0) / run.requests * 1e3,
        log_ms=(log_1 - log_0) / run.requests * 1e3,
        rows_per_s=run.requests * BATCH_ROWS / run.seconds if args.closed else 0.0,
        written=after_log.get("written", 0.0) - before_log.get("written", 0.0),
        dropped=after_log.get("dropped", 0.0) - before_log.get("dropped", 0.0),
    )


def run_form(
    home: Path, key: str, form: str, work: Path, body: bytes, args: argparse.Namespace
) -> dict[str, list[Round]]:
    """Each checkout's server for ``form``, measured round by round in turns (the order
    swapped each round), so a burst of other work moves one round, not one checkout."""
    checkouts: dict[str, Path | None] = {"this checkout": None}
    if args.against is not None:
        checkouts[f"against {args.against}"] = args.against.resolve() / "src"
    servers = {
        label: ailayer_server(home, key, f"{form}-{i}", work, body, source)
        for i, (label, source) in enumerate(checkouts.items())
    }
    if args.columns:  # this checkout's answers in columns (``?columns=true``)
        this = servers["this checkout"]
        this.path += "?columns=true"
        servers = {"this checkout, in columns": this, **servers}
        del servers["this checkout"]
    rounds: dict[str, list[Round]] = {label: [] for label in servers}
    try:
        for label, server in servers.items():
            start(server)
            wait_ready(server, STARTUP_TIMEOUT_S)
            set_serving(server, compiled=form == "compiled")  # type: ignore[arg-type]
            status, answer = request(server, "POST", server.path, body)
            if status != 200:
                raise RuntimeError(f"{server.name} answered {status}: {answer[:300]!r}")
            print(f"{form}, {label}: response {len(answer):,} bytes for {BATCH_ROWS:,} records")
            run_python_load(server, 2.0, args.connections, args.rate)  # warm-up
        for i in range(args.rounds):
            order = list(servers.items())
            for label, server in order[::-1] if i % 2 else order:
                done = measure_round(server, key, args)
                rounds[label].append(done)
                print(
                    f"  round {i + 1}, {label}: {done.requests} requests, CPU per request: "
                    f"server {done.server_ms:.2f} ms + log process {done.log_ms:.2f} ms = "
                    f"{done.total_ms:.2f} ms; log rows written {done.written:,.0f}, "
                    f"dropped {done.dropped:,.0f}; load {load_average():.1f}"
                    + (f"; {done.rows_per_s:,.0f} rows/s" if args.closed else ""),
                    flush=True,
                )
        return rounds
    finally:
        for server in servers.values():
            stop(server)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400, help="requests per round")
    parser.add_argument("--rate", type=float, default=50.0, help="requests per second")
    parser.add_argument("--rounds", type=int, default=3, help="measured rounds per form")
    parser.add_argument("--connections", type=int, default=4, help="keep-alive connections")
    parser.add_argument("--forms", nargs="+", default=list(FORMS), choices=FORMS)
    parser.add_argument(
        "--against",
        type=Path,
        help="another checkout (its root; e.g. from `git worktree add`) measured in turns",
    )
    parser.add_argument(
        "--closed",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help=f"instead of the paced load: {CLOSED_CONNECTIONS} connections of wrk for that "
        "long per round (saturation), with rows/s",
    )
    parser.add_argument(
        "--columns",
        action="store_true",
        help="this checkout's requests ask for the answer in columns (?columns=true); "
        "with --against the same checkout, columns against an object per record",
    )
    parser.add_argument("--json", type=Path, help="also write the rounds here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    print(machine(), f"load average {load_average():.2f}")
    work = args.work = Path(tempfile.mkdtemp(prefix="ailayer-batch-cpu-"))
    results: dict[str, dict[str, list[Round]]] = {}
    try:
        home, key = setup_ailayer_home(work)
        body = batch_body()
        for form in args.forms:
            results[form] = run_form(home, key, form, work, body, args)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("\nCPU time per 1,000-record request, median over rounds (ms):")
    rows_head = (" rows/s |", "---:|") if args.closed else ("", "")
    print(
        f"| form | checkout | server process | log process | total | log rows dropped |{rows_head[0]}"
    )
    print(f"|---|---|---:|---:|---:|---:|{rows_head[1]}")
    complete = True
    for form, by_checkout in results.items():
        for label, rounds in by_checkout.items():
            dropped = sum(r.dropped for r in rounds)
            complete &= dropped == 0 and all(r.written >= r.requests * BATCH_ROWS for r in rounds)
            print(
                f"| {form} | {label} | {statistics.median(r.server_ms for r in rounds):.2f} "
                f"| {statistics.median(r.log_ms for r in rounds):.2f} "
                f"| {statistics.median(r.total_ms for r in rounds):.2f} | {dropped:,.0f} |"
                + (
                    f" {statistics.median(r.rows_per_s for r in rounds):,.0f} |"
                    if args.closed
                    else ""
                )
            )
    if not complete:
        print("the prediction log did not write every row: these figures do not count")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    form: {label: [asdict(r) for r in rounds] for label, rounds in by.items()}
                    for form, by in results.items()
                }
            )
        )
    return 0 if complete else 1


if __name__ == "__main__":
    sys.exit(main())
