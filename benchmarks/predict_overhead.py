"""What does ailayer's predict path cost over the floor for Python HTTP, and over MLflow?

Measures ``POST /v1/predict/fraud`` with one record, side by side in one run, against:

  floor   a bare Starlette endpoint in uvicorn calling the same scikit-learn model
          in-process (orjson parse, 1-row NumPy array, predict_proba, orjson response);
  mlflow  ``mlflow models serve`` of the same estimator (saved with ``mlflow.sklearn``) in
          its own virtual environment, ``benchmarks/.venv-mlflow`` (created on first run,
          reused after);
  ailayer ``ailayer serve`` on a temporary home set up by ``ailayer up --no-serve``.

The model is the demo fraud model that ``ailayer up`` trains and registers (a
StandardScaler + LogisticRegression pipeline). Its skops artifact is read back from the
registry and loaded, unchanged, by the floor server and by MLflow. Every server is one
process with one uvicorn worker on 127.0.0.1; no traffic goes anywhere else.

For each server, after a warm-up: concurrency 1 (p50/p99 latency) and concurrency 8
(peak throughput), both with ``wrk`` (Debian package ``wrk``) and a Lua script, then p99
at a fixed rate of half of ailayer's peak, with a paced open-loop generator in Python
(wrk2 is not packaged in Debian; latency is counted from each request's scheduled send
time, as wrk2 does). Without ``wrk``, the closed-loop runs use the Python generator.
Each measurement is ``--rounds`` runs of ``--duration`` seconds, the servers taking turns
within a round, and the table shows the median, so a burst of other work on the machine
moves one run rather than one server's whole result.

Run from the repository root (about 3 minutes, plus a one-time MLflow install):

    python benchmarks/predict_overhead.py
    python benchmarks/predict_overhead.py --duration 5 --skip-mlflow
    python benchmarks/predict_overhead.py --json /tmp/predict-overhead.json

It prints a Markdown table and each target as MET / NOT MET, and exits 1 when a target
is not met. Every process it starts is stopped and its temporary directory removed.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from harness import (
    DEMO_ENDPOINT,
    HOST,
    MLFLOW_PIN,
    LoadRun,
    Measure,
    Server,
    ailayer_argv,
    ailayer_env,
    cpu_busy,
    dataframe_split,
    ensure_model_venv,
    export_model,
    floor_server,
    free_port,
    machine,
    measure,
    mlflow_server,
    post,
    run_python_load,
    run_wrk,
    save_mlflow_model,
    server_cpu_seconds,
    setup_ailayer_home,
    start,
    stop,
    wait_ready,
)

BENCH_DIR = Path(__file__).resolve().parent
DEFAULT_VENV = BENCH_DIR / ".venv-mlflow"
PEAK_CONNECTIONS = 8
PACED_CONNECTIONS = 32
STARTUP_TIMEOUT_S = 120.0
SCORE_TOLERANCE = 1e-9

TARGET_ADDED_MS = 1.0
TARGET_FLOOR_RATIO = 0.7
TARGET_MLFLOW_RATIO = 3.0
TARGET_P99_MS = 10.0


# --- the benchmark -------------------------------------------------------------------


def record_body(features: list[str], example: dict[str, float]) -> tuple[bytes, bytes]:
    """The same record as ailayer/floor JSON and as MLflow ``dataframe_split`` JSON."""
    record = {name: float(example[name]) for name in features}
    return json.dumps(record).encode(), dataframe_split(features, [record])


def score_of(server: Server) -> float:
    status, body = post(server)
    if status != 200:
        raise RuntimeError(f"{server.name} answered {status}: {body[:300]!r}")
    data = json.loads(body)
    if server.name == "floor":
        return data["scores"][0]
    if server.name == "mlflow":
        return data["predictions"][0][1]
    return data["predictions"][0]["score"]


def sanity_check(servers: list[Server]) -> dict[str, float]:
    scores = {s.name: score_of(s) for s in servers}
    spread = max(scores.values()) - min(scores.values())
    if spread > SCORE_TOLERANCE:
        raise RuntimeError(f"servers disagree on the score of the same record: {scores}")
    return scores


Load = Callable[[Server, int, float], Measure]


def closed_loop_load(work: Path, use_wrk: bool) -> Load:
    """wrk when installed, else the built-in generator; same connections either way."""

    def load(server: Server, connections: int, seconds: float) -> Measure:
        def run() -> LoadRun:
            if use_wrk:
                return run_wrk(server, connections, seconds, work)
            return run_python_load(server, seconds, connections)

        return measure(lambda: server_cpu_seconds(server), run)

    return load


def measure_closed(servers: list[Server], args: argparse.Namespace, load: Load) -> None:
    """Warm every server up, then c=1 and c=8 runs, servers interleaved round by round."""
    for server in servers:
        load(server, PEAK_CONNECTIONS, args.warmup)
    for round_ in range(1, args.rounds + 1):
        print(f"  round {round_}/{args.rounds}: c=1 and c={PEAK_CONNECTIONS}", flush=True)
        for server in servers:
            server.add("c1", load(server, 1, args.duration))
            server.add("c8", load(server, PEAK_CONNECTIONS, args.duration))


def measure_paced(servers: list[Server], rate: float, args: argparse.Namespace) -> None:
    for round_ in range(1, args.rounds + 1):
        print(f"  round {round_}/{args.rounds}: {rate:.0f} req/s", flush=True)
        for server in servers:
            run = measure(
                lambda s=server: server_cpu_seconds(s),
                lambda s=server: run_python_load(s, args.duration, PACED_CONNECTIONS, rate),
            )
            server.add("paced", run)


def ailayer_server(home: Path, key: str, record: bytes, work: Path, extra: list[str]) -> Server:
    """``extra``: ``AILAYER_*=value`` settings for this server only, to try a change."""
    port = free_port()
    return Server(
        name="ailayer",
        argv=ailayer_argv("serve", "--host", HOST, "--port", str(port)),
        port=port,
        path=f"/v1/predict/{DEMO_ENDPOINT}",
        body=record,
        headers={"Authorization": f"Bearer {key}"},
        env=ailayer_env(home) | dict(item.split("=", 1) for item in extra),
        cwd=work,
        log=work / "ailayer.log",
    )


def build_servers(args: argparse.Namespace, work: Path) -> list[Server]:
    """Set up the model once and describe the servers: floor, [mlflow,] ailayer."""
    from ailayer.cli.up import DEMO_EXAMPLE
    from ailayer.simulate import FRAUD_FEATURES

    features = list(FRAUD_FEATURES)
    record, split = record_body(features, DEMO_EXAMPLE)
    print("setting up an ailayer home (ailayer up --no-serve) ...", flush=True)
    home, key = setup_ailayer_home(work)
    model = work / "fraud.skops"
    trusted = export_model(home, key, model)
    servers = [floor_server(model, trusted, features, record, work)]
    if not args.skip_mlflow:
        python = ensure_model_venv(args.mlflow_venv, [MLFLOW_PIN])
        print("saving the same estimator with mlflow.sklearn ...", flush=True)
        save_mlflow_model(python, model, trusted, features, work / "mlflow-model")
        servers.append(mlflow_server(python, work / "mlflow-model", split, work))
    servers.append(ailayer_server(home, key, record, work, args.ailayer_env))
    return servers


def run(args: argparse.Namespace, work: Path) -> list[Server]:
    use_wrk = args.loadgen != "python" and shutil.which("wrk") is not None
    if args.loadgen == "wrk" and not use_wrk:
        raise SystemExit("wrk is not installed: apt-get install -y wrk (or --loadgen python)")
    if not use_wrk:
        print("wrk not found (apt-get install -y wrk): using the built-in Python generator")
    servers = build_servers(args, work)
    if args.ailayer_env:
        print("ailayer runs with", " ".join(args.ailayer_env))
    busy = cpu_busy()
    if busy is not None:
        noisy = " (other work is running: the numbers will be noisy)" if busy > 0.1 else ""
        print(f"CPU busy before the run: {busy:.0%}{noisy}")
    try:
        for server in servers:
            start(server)
        for server in servers:
            wait_ready(server, STARTUP_TIMEOUT_S)
        scores = sanity_check(servers)
        print(
            "same score from every server:", ", ".join(f"{k} {v:.12f}" for k, v in scores.items())
        )
        print(f"warm-up, then closed loop with {'wrk' if use_wrk else 'the Python generator'}:")
        measure_closed(servers, args, closed_loop_load(work, use_wrk))
        ailayer = next(s for s in servers if s.name == "ailayer")
        rate = ailayer.results["c8"].rps / 2
        print("open loop at half of ailayer's peak:")
        measure_paced(servers, rate, args)
    finally:
        for server in servers:
            stop(server)
    return servers


# --- report --------------------------------------------------------------------------


def fmt_ms(measure: Measure) -> str:
    text = f"{measure.p99_ms:.2f}"
    return f">{text} ({measure.unfinished} unfinished)" if measure.unfinished else text


def print_table(servers: list[Server], rate: float) -> None:
    floor = servers[0].results
    print(f"\nmachine: {machine()}")
    print(
        f"paced rate: {rate:.0f} req/s (half of ailayer's peak), {PACED_CONNECTIONS} connections\n"
    )
    print(
        "| server | c=1 p50 ms | c=1 p99 ms | added p50 ms | c=1 req/s | c=8 req/s "
        "| c=8 p50 ms | c=8 p99 ms | c=8 server CPU µs/req | paced p50 ms | paced p99 ms "
        "| errors |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for s in servers:
        c1, c8, pc = s.results["c1"], s.results["c8"], s.results["paced"]
        added = c1.p50_ms - floor["c1"].p50_ms
        errors = c1.errors + c8.errors + pc.errors
        print(
            f"| {s.name} | {c1.p50_ms:.3f} | {c1.p99_ms:.3f} | {added:+.3f} | {c1.rps:.0f} "
            f"| {c8.rps:.0f} | {c8.p50_ms:.2f} | {c8.p99_ms:.2f} | {c8.cpu_us:.0f} "
            f"| {pc.p50_ms:.2f} | {fmt_ms(pc)} | {errors} |"
        )
    lags = ", ".join(f"{s.name} {s.results['paced'].lag_p99_ms:.2f}" for s in servers)
    print(f"\npaced generator's own send lag, p99 ms (counted in paced latency): {lags}")
    for s in servers:
        if s.results["c8"].rps < rate:
            print(
                f"{s.name}: the paced rate is above its peak, so its queue grows for the whole run"
            )


def target_checks(servers: list[Server]) -> list[tuple[str, float, str, bool]]:
    """(target, measured value, unit, met) for ailayer."""
    results = {s.name: s.results for s in servers}
    ours, floor = results["ailayer"], results["floor"]
    added = ours["c1"].p50_ms - floor["c1"].p50_ms
    vs_floor = ours["c8"].rps / floor["c8"].rps
    checks = [
        ("added p50 latency over the floor at c=1 <= 1 ms", added, "ms", added <= TARGET_ADDED_MS),
        ("throughput vs the floor at c=8 >= 0.7x", vs_floor, "x", vs_floor >= TARGET_FLOOR_RATIO),
    ]
    if "mlflow" in results:
        vs_mlflow = ours["c8"].rps / results["mlflow"]["c8"].rps
        met = vs_mlflow >= TARGET_MLFLOW_RATIO
        checks.append(("throughput vs MLflow at c=8 >= 3x", vs_mlflow, "x", met))
    p99 = float("inf") if ours["paced"].unfinished else ours["paced"].p99_ms
    checks.append(("p99 at half of peak load <= 10 ms", p99, "ms", p99 <= TARGET_P99_MS))
    return checks


def print_targets(servers: list[Server]) -> bool:
    print("\ntargets (ailayer):")
    checks = target_checks(servers)
    for text, value, unit, met in checks:
        print(f"  {'MET' if met else 'NOT MET':8} {text}: {value:.3f} {unit}")
    cpu = {s.name: s.results["c8"].cpu_us for s in servers}
    implied = ", ".join(
        f"{cpu[name] / cpu['ailayer']:.2f}x {name}'s"
        for name in cpu
        if name != "ailayer" and cpu["ailayer"]
    )
    print(f"  (server CPU per request at c=8 implies a throughput of {implied})")
    return all(met for *_, met in checks)


def setting(text: str) -> str:
    if not text.startswith("AILAYER_") or "=" not in text:
        raise argparse.ArgumentTypeError(f"expected AILAYER_NAME=value, got {text!r}")
    return text


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per run")
    parser.add_argument(
        "--rounds", type=int, default=3, help="interleaved runs per measurement (median kept)"
    )
    parser.add_argument("--warmup", type=float, default=3.0, help="warm-up seconds per server")
    parser.add_argument("--skip-mlflow", action="store_true", help="leave MLflow out")
    parser.add_argument("--mlflow-venv", type=Path, default=DEFAULT_VENV, help="MLflow's venv")
    parser.add_argument(
        "--loadgen",
        choices=("auto", "wrk", "python"),
        default="auto",
        help="closed-loop load generator (auto: wrk if installed)",
    )
    parser.add_argument(
        "--ailayer-env",
        action="append",
        default=[],
        type=setting,
        metavar="AILAYER_X=VALUE",
        help="a setting for the ailayer server only (repeatable), e.g. to try a change",
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="ailayer-bench-"))
    try:
        servers = run(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    ailayer = next(s for s in servers if s.name == "ailayer")
    print_table(servers, ailayer.results["c8"].rps / 2)
    met = print_targets(servers)
    if args.json:
        results = {s.name: {k: asdict(m) for k, m in s.results.items()} for s in servers}
        args.json.write_text(json.dumps({"machine": machine(), "results": results}, indent=2))
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
