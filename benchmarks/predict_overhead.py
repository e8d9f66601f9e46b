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
import asyncio
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import harness
from harness import (
    HOST,
    RESPONSE_TIMEOUT_S,
    ailayer_argv,
    ailayer_env,
    clean_env,
    cpu_busy,
    ensure_venv,
    free_port,
    installed_version,
    machine,
    percentile,
    post,
    run_wrk,
    server_cpu_seconds,
    start,
    stop,
    wait_ready,
)

BENCH_DIR = Path(__file__).resolve().parent
DEFAULT_VENV = BENCH_DIR / ".venv-mlflow"
ENDPOINT = "fraud"
PEAK_CONNECTIONS = 8
PACED_CONNECTIONS = 32
STARTUP_TIMEOUT_S = 120.0
SCORE_TOLERANCE = 1e-9

TARGET_ADDED_MS = 1.0
TARGET_FLOOR_RATIO = 0.7
TARGET_MLFLOW_RATIO = 3.0
TARGET_P99_MS = 10.0


# --- results -------------------------------------------------------------------------


@dataclass
class Measure:
    """One load run against one server, or the median of several (``combine``)."""

    label: str
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int = 0
    unfinished: int = 0
    lag_p99_ms: float = 0.0
    rps: float = -1.0
    cpu_us: float = 0.0  # the server's CPU time per request, all its processes and threads

    def __post_init__(self) -> None:
        if self.rps < 0:
            self.rps = self.requests / self.seconds if self.seconds else 0.0


def combine(runs: list[Measure]) -> Measure:
    """Medians of throughput and percentiles over rounds; sums of counts."""
    return Measure(
        label=runs[0].label,
        requests=sum(m.requests for m in runs),
        seconds=sum(m.seconds for m in runs),
        p50_ms=statistics.median(m.p50_ms for m in runs),
        p99_ms=statistics.median(m.p99_ms for m in runs),
        errors=sum(m.errors for m in runs),
        unfinished=sum(m.unfinished for m in runs),
        lag_p99_ms=max(m.lag_p99_ms for m in runs),
        cpu_us=statistics.median(m.cpu_us for m in runs),
        rps=statistics.median(m.rps for m in runs),
    )


@dataclass
class Server(harness.Server):
    """A server under test and its measurements, by kind (c1, c8, paced)."""

    runs: dict[str, list[Measure]] = field(default_factory=dict)

    @property
    def results(self) -> dict[str, Measure]:
        return {kind: combine(runs) for kind, runs in self.runs.items()}

    def add(self, kind: str, measure: Measure) -> None:
        self.runs.setdefault(kind, []).append(measure)


# --- the floor server (runs in its own process: --serve-floor) -------------------------


def floor_app(model_path: Path, trusted: list[str], features: list[str]):  # type: ignore[no-untyped-def]
    """The least a Python HTTP prediction can do: parse, 1-row array, predict_proba."""
    import numpy as np
    import orjson
    import skops.io as sio
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    model = sio.loads(model_path.read_bytes(), trusted=trusted)

    async def predict(request: Request) -> Response:
        record = orjson.loads(await request.body())
        row = np.array([[record[name] for name in features]], dtype=np.float64)
        score = float(model.predict_proba(row)[0, 1])
        return Response(orjson.dumps({"score": score}), media_type="application/json")

    return Starlette(routes=[Route("/predict", predict, methods=["POST"])])


def serve_floor(spec: dict) -> None:
    import uvicorn

    app = floor_app(Path(spec["model"]), spec["trusted"], spec["features"])
    uvicorn.run(app, host=HOST, port=spec["port"], log_level="warning", access_log=False)


# --- set-up: ailayer home, exported model, MLflow venv -------------------------------


def setup_ailayer_home(work: Path) -> tuple[Path, str]:
    """Run ``ailayer up --no-serve`` in ``work``; return the home and the admin key."""
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
    """Write the skops artifact ``champion`` serves to ``out``; return its trusted types."""
    from ailayer.bootstrap import build
    from ailayer.core.settings import Settings
    from ailayer.models.flavors.skops_audit import audit

    settings = Settings(
        home=home,
        metadata_url=f"sqlite:///{home / 'meta.db'}",
        artifacts=f"file://{home}/artifacts",
    )
    services = build(settings, migrate=False)
    try:
        tenant_id = services.keys.authenticate(key).tenant_id
        version = services.registry.resolve_alias(tenant_id, ENDPOINT, "champion")
        data = services.registry.load_artifact(tenant_id, version)
    finally:
        services.close()
    out.write_bytes(data)
    return audit(data)


def ensure_mlflow_venv(venv: Path) -> Path:
    """A venv with MLflow and our scikit-learn and skops versions, so the artifact loads."""
    import sklearn
    import skops

    wanted = {"sklearn": sklearn.__version__, "skops": skops.__version__}
    packages = ["mlflow", f"scikit-learn=={wanted['sklearn']}", f"skops=={wanted['skops']}"]

    def ready(python: Path) -> bool:
        found = {module: installed_version(python, module) for module in ("mlflow", *wanted)}
        return found["mlflow"] is not None and all(found[m] == v for m, v in wanted.items())

    return ensure_venv(venv, packages, ready)


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
    argv = [str(python), "-c", MLFLOW_SAVE, str(model), json.dumps(trusted)]
    argv += [json.dumps(features), str(out)]
    subprocess.run(argv, env=mlflow_env(python), check=True, timeout=600, capture_output=True)


# --- load: the Python generator (its own process: --loadgen-spec) ----------------------


def raw_request(server: Server) -> bytes:
    headers = {"Host": f"{HOST}:{server.port}", "Content-Type": "application/json"}
    headers |= server.headers | {"Content-Length": str(len(server.body))}
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return f"POST {server.path} HTTP/1.1\r\n{head}\r\n".encode() + server.body


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
                self.streams = await asyncio.open_connection(HOST, self.port)
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
    return summary(latencies, errors, clock() - started)


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
    result = summary(latencies, errors, clock() - started)
    result["unfinished"] = total - len(latencies)
    result["lag_p99_ms"] = percentile(sorted(lags), 99) * 1e3
    return result


def summary(latencies: list[float], errors: int, seconds: float) -> dict:
    ordered = sorted(latencies)
    return {
        "requests": len(ordered),
        "seconds": seconds,
        "p50_ms": percentile(ordered, 50) * 1e3,
        "p99_ms": percentile(ordered, 99) * 1e3,
        "errors": errors,
    }  # rps is derived from requests / seconds


def run_loadgen(spec: dict) -> None:
    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.install()
    runner = paced if spec.get("rate") else closed_loop
    print(json.dumps(asyncio.run(runner(spec))))


def run_python_load(server: Server, label: str, seconds: float, **spec: float) -> Measure:
    payload = {"raw": raw_request(server).decode("latin-1"), "port": server.port}
    payload |= {"seconds": seconds, **spec}
    argv = [sys.executable, __file__, "--loadgen-spec", json.dumps(payload)]
    done = subprocess.run(
        argv, capture_output=True, text=True, timeout=seconds * 3 + 60, check=True
    )
    return Measure(label, **json.loads(done.stdout.strip().splitlines()[-1]))


# --- the benchmark -------------------------------------------------------------------


def record_body(features: list[str], example: dict[str, float]) -> tuple[bytes, bytes]:
    """The same record as ailayer/floor JSON and as MLflow ``dataframe_split`` JSON."""
    record = {name: float(example[name]) for name in features}
    split = {"dataframe_split": {"columns": features, "data": [list(record.values())]}}
    return json.dumps(record).encode(), json.dumps(split).encode()


def score_of(server: Server) -> float:
    status, body = post(server)
    if status != 200:
        raise RuntimeError(f"{server.name} answered {status}: {body[:300]!r}")
    data = json.loads(body)
    if server.name == "floor":
        return data["score"]
    if server.name == "mlflow":
        return data["predictions"][0][1]
    return data["predictions"][0]["score"]


def sanity_check(servers: list[Server]) -> dict[str, float]:
    scores = {s.name: score_of(s) for s in servers}
    spread = max(scores.values()) - min(scores.values())
    if spread > SCORE_TOLERANCE:
        raise RuntimeError(f"servers disagree on the score of the same record: {scores}")
    return scores


Load = Callable[[Server, int, float, str], Measure]


def closed_loop_load(work: Path, use_wrk: bool) -> Load:
    """wrk when installed, else the built-in generator; same connections either way.

    Also counts the server's CPU time per request: unlike throughput, it barely moves
    when other work shares the machine, so it checks the throughput ratios.
    """

    def load(server: Server, connections: int, seconds: float, label: str) -> Measure:
        before = server_cpu_seconds(server)
        if use_wrk:
            run = run_wrk(server, connections, seconds, work)
            measure = Measure(label, run.requests, run.seconds, run.p50_ms, run.p99_ms, run.errors)
        else:
            measure = run_python_load(server, label, seconds, connections=connections)
        cpu = server_cpu_seconds(server) - before
        measure.cpu_us = cpu / measure.requests * 1e6 if measure.requests else 0.0
        return measure

    return load


def measure_closed(servers: list[Server], args: argparse.Namespace, load: Load) -> None:
    """Warm every server up, then c=1 and c=8 runs, servers interleaved round by round."""
    for server in servers:
        load(server, PEAK_CONNECTIONS, args.warmup, "warm-up")
    for round_ in range(1, args.rounds + 1):
        print(f"  round {round_}/{args.rounds}: c=1 and c={PEAK_CONNECTIONS}", flush=True)
        for server in servers:
            server.add("c1", load(server, 1, args.duration, "c=1"))
            server.add("c8", load(server, PEAK_CONNECTIONS, args.duration, f"c={PEAK_CONNECTIONS}"))


def measure_paced(servers: list[Server], rate: float, args: argparse.Namespace) -> None:
    for round_ in range(1, args.rounds + 1):
        print(f"  round {round_}/{args.rounds}: {rate:.0f} req/s", flush=True)
        for server in servers:
            paced = run_python_load(
                server, "paced", args.duration, rate=rate, connections=PACED_CONNECTIONS
            )
            server.add("paced", paced)


def floor_server(
    model: Path, trusted: list[str], features: list[str], record: bytes, work: Path
) -> Server:
    port = free_port()
    spec = {"model": str(model), "trusted": trusted, "features": features, "port": port}
    return Server(
        name="floor",
        argv=[sys.executable, __file__, "--serve-floor", json.dumps(spec)],
        port=port,
        path="/predict",
        body=record,
        headers={},
        env=clean_env(),
        cwd=work,
        log=work / "floor.log",
    )


def ailayer_server(home: Path, key: str, record: bytes, work: Path, extra: list[str]) -> Server:
    """``extra``: ``AILAYER_*=value`` settings for this server only, to try a change."""
    port = free_port()
    return Server(
        name="ailayer",
        argv=ailayer_argv("serve", "--host", HOST, "--port", str(port)),
        port=port,
        path=f"/v1/predict/{ENDPOINT}",
        body=record,
        headers={"Authorization": f"Bearer {key}"},
        env=ailayer_env(home) | dict(item.split("=", 1) for item in extra),
        cwd=work,
        log=work / "ailayer.log",
    )


def mlflow_server(python: Path, model_dir: Path, split: bytes, work: Path) -> Server:
    port = free_port()
    argv = [str(python.parent / "mlflow"), "models", "serve", "-m", str(model_dir)]
    argv += ["--env-manager", "local", "--no-conda", "-w", "1", "-h", HOST, "-p", str(port)]
    return Server(
        name="mlflow",
        argv=argv,
        port=port,
        path="/invocations",
        body=split,
        headers={},
        env=mlflow_env(python),
        cwd=work,
        log=work / "mlflow.log",
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
        python = ensure_mlflow_venv(args.mlflow_venv)
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
    parser.add_argument("--serve-floor", help=argparse.SUPPRESS)
    parser.add_argument("--loadgen-spec", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.serve_floor:
        serve_floor(json.loads(args.serve_floor))
        return 0
    if args.loadgen_spec:
        run_loadgen(json.loads(args.loadgen_spec))
        return 0
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
