"""Serving: ailayer against the floor and the model servers people would otherwise use.

One run, one model, one load generator, the same concurrency for every system:

  floor              a bare Starlette endpoint in uvicorn calling the model's predict_proba
                     (``harness.floor_server``): what a Python HTTP prediction costs at least;
  ailayer            ``ailayer serve``, embedded (the model runs in the server process),
                     micro-batching on (the default), the original model (every ailayer
                     system but the compiled one is switched to it);
  ailayer-unbatched  the same with ``AILAYER_MICRO_BATCHING=false``;
  ailayer-gateway    an ``ailayer serve`` gateway handing model calls to ``--gateway-workers``
                     model workers (``ailayer serve --role worker``); skipped, with a note,
                     on a checkout whose ``ailayer serve`` has no ``--role``;
  ailayer-compiled   ``ailayer serve`` serving the version's compiled (ONNX) form, the default
                     when registration kept one; skipped, with a note, when the version
                     JSON has no ``serves_compiled`` field;
  bentoml            a BentoML service (``@bentoml.service``, one worker, a sync
                     ``@bentoml.api`` taking an ``np.ndarray``), ``bentoml serve``;
  kserve             KServe's Python model server without Kubernetes: a ``kserve.Model``
                     subclass on ``kserve.ModelServer``, v1 protocol (``{"instances"}``);
  mlflow             ``mlflow models serve`` of the estimator saved with ``mlflow.sklearn``.

The model is the demo fraud model that ``ailayer up`` trains and registers (a
StandardScaler + LogisticRegression pipeline). Its skops artifact is exported once and
every peer loads that file, unchanged, with our scikit-learn and skops versions: each peer
lives in its own virtual environment under ``benchmarks/`` (``.venv-bentoml``,
``.venv-kserve``, ``.venv-mlflow``), created and installed on first run (pinned versions;
several minutes, ~2 GB) and reused after. Every server is one process (the gateway:
one plus its workers) with one worker on 127.0.0.1; peers' per-request log lines are off
(KServe's latency log, BentoML's access log), ailayer keeps its prediction log on: every
answered row is stored (JSON features, Parquet, journal) by the log process each ailayer
server starts, whose CPU is counted with the server's. After the runs the script prints
each ailayer system's log rows written and dropped: a log that could not keep up drops
rows (counted), and a throughput won that way says so there.

Scenarios, each system answering the same records (their scores are checked equal first):

- one record, 8 connections, closed loop (``wrk``): throughput, p50/p99, server CPU per
  request;
- a 1,000-record batch per request, 8 connections (``wrk``): rows per second. ailayer
  systems are asked for their answer in columns (``?columns=true``: each field's values
  in order, the answer a batch client asks for; the floor's is a list of scores), and
  ``ailayer`` also, in the same rounds, with an object per record (the default answer),
  reported beside it;
- p99 at a fixed rate of half of ailayer's one-record peak, open loop: the Python
  generator in ``harness`` (``wrk2`` is not packaged in Debian), 32 connections, latency
  counted from each request's scheduled send time as wrk2 does; a system whose peak is
  below that rate is not run (its queue would only grow);
- 1,000 tenants, each with a distinct small model (the same pipeline fitted on its own
  bootstrap sample) and its own key, served by one ``ailayer serve`` process under a
  declared ``model_cache_bytes``: the first request of each tenant (a cold start: key,
  endpoint and model loaded) one after the other, then a second pass; cold and warm
  p50/p99, models loaded, the cache's measured bytes, evictions and the process's RSS.

Each closed-loop measurement is ``--rounds`` runs of ``--duration`` seconds with the
systems taking turns (round-robin, the order rotated each round), so a burst of other
work on the machine moves one run rather than one system's result; tables show medians.
The CPU busy fraction before the run and the load average over the runs are printed.

Run from the repository root (needs ``wrk``: ``apt-get install -y wrk``):

    python benchmarks/serving.py                       # ~12 minutes (plus first installs)
    python benchmarks/serving.py --quick               # ~3 minutes: 1 round of 2 s, 200 tenants
    python benchmarks/serving.py --skip mlflow kserve --json /tmp/serving.json

It prints Markdown tables and each target as MET / NOT MET (PENDING when the system it
needs was skipped), and exits 1 when a target is not met. Every process it starts is
stopped and its temporary directory removed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness import (
    DEMO_ENDPOINT,
    HOST,
    MLFLOW_PIN,
    Measure,
    Server,
    ailayer_argv,
    ailayer_env,
    clean_env,
    cpu_busy,
    dataframe_split,
    ensure_model_venv,
    export_model,
    floor_server,
    free_port,
    home_settings,
    load_average,
    machine,
    measure,
    mlflow_server,
    percentile,
    request,
    resident_bytes,
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
BENTOML_PIN = "bentoml==1.4.40"
KSERVE_PIN = "kserve==0.21.0"
SYSTEMS = (
    "floor",
    "ailayer",
    "ailayer-unbatched",
    "ailayer-gateway",
    "ailayer-compiled",
    "bentoml",
    "kserve",
    "mlflow",
)
OURS = "ailayer"  # the configuration the targets are about: embedded, micro-batching on
CONNECTIONS = 8
PACED_CONNECTIONS = 32
BATCH_ROWS = 1000
STARTUP_TIMEOUT_S = 180.0
SCORE_TOLERANCE = 1e-9  # the same model in every system: the same scores
COMPILED_TOLERANCE = 1e-6  # a compiled model may round differently

TARGET_FLOOR_ONE = 0.8
TARGET_COMPILED_FLOOR_ONE = 1.5
TARGET_FLOOR_BATCH = 0.7
TARGET_PEERS = {"bentoml": 2.0, "kserve": 2.0, "mlflow": 5.0}
TARGET_PACED_P99_MS = 10.0


# --- what every system is ---------------------------------------------------------------


@dataclass
class System(Server):
    """A server under test: its one-record body (``body``), its 1,000-record body, how to
    read scores out of its answer, and the processes behind it (a gateway's workers)."""

    batch: bytes = b""
    batch_path: str | None = None  # where batches go (default: ``path``)
    scores: Callable[[object], list[float]] = lambda answer: []
    behind: list[Server] = field(default_factory=list)
    batch_rows_sent: int = 0  # in the measured batch runs
    batch_rows_dropped: float = 0.0  # by its prediction log meanwhile (ailayer only)

    def cpu_seconds(self) -> float:
        """CPU time of every process of the system, the ones behind it included."""
        return sum(server_cpu_seconds(s) for s in (self, *self.behind))


@dataclass
class Model:
    """The demo model, set up once: the ailayer home that serves it, its exported skops
    file, and the records every system is asked about."""

    work: Path
    home: Path
    key: str
    file: Path
    trusted: list[str]
    features: list[str]
    one: dict[str, float]
    batch: list[dict[str, float]]


def prepare_model(work: Path) -> Model:
    from ailayer.cli.up import DEMO_EXAMPLE
    from ailayer.simulate import FRAUD_FEATURES, fraud_training_frame, simulate

    print("setting up an ailayer home (ailayer up --no-serve) ...", flush=True)
    home, key = setup_ailayer_home(work)
    file = work / "fraud.skops"
    trusted = export_model(home, key, file)
    features = list(FRAUD_FEATURES)
    frame, _labels = fraud_training_frame(simulate(seed=3, n_payments=BATCH_ROWS + 200))
    batch = frame.head(BATCH_ROWS).astype(float).to_dict(orient="records")
    one = {name: float(DEMO_EXAMPLE[name]) for name in features}
    return Model(work, home, key, file, trusted, features, one, batch)


def rows(model: Model, records: list[dict[str, float]]) -> list[list[float]]:
    return [[record[name] for name in model.features] for record in records]


def folder(model: Model, name: str) -> Path:
    path = model.work / name
    path.mkdir(exist_ok=True)
    return path


# --- ailayer ----------------------------------------------------------------------------


def ailayer_system(model: Model, name: str, settings: dict[str, str]) -> System:
    """``ailayer serve`` on a copy of the demo home of its own (its own prediction log)."""
    home = folder(model, name) / "home"
    shutil.copytree(model.home, home)
    port = free_port()
    return System(
        name=name,
        argv=ailayer_argv("serve", "--host", HOST, "--port", str(port)),
        port=port,
        env=ailayer_env(home) | settings,
        cwd=home.parent,
        log=home.parent / "server.log",
        path=f"/v1/predict/{DEMO_ENDPOINT}",
        headers={"Authorization": f"Bearer {model.key}"},
        body=json.dumps(model.one).encode(),
        batch=json.dumps(model.batch).encode(),
        batch_path=f"/v1/predict/{DEMO_ENDPOINT}?columns=true",
        scores=ailayer_scores,
    )


def ailayer_scores(answer: Any) -> list[float]:
    """The scores of an ailayer answer, in columns or an object per record."""
    if "columns" in answer:
        return answer["columns"]["score"]
    return [p["score"] for p in answer["predictions"]]


def has_roles() -> bool:
    """Whether this checkout's ``ailayer serve`` can be a gateway or a model worker."""
    done = subprocess.run(
        ailayer_argv("serve", "--help"), capture_output=True, text=True, timeout=120
    )
    return "--role" in done.stdout


def gateway_system(model: Model, workers: int) -> System:
    """A gateway and ``workers`` model workers, all on one copy of the demo home (workers
    load models from the same registry). The gateway finds them by
    ``AILAYER_MODEL_WORKERS`` (host:port, comma-separated); they answer their own wire
    protocol, not HTTP, so a worker is ready when its port accepts a connection."""
    system = ailayer_system(model, "ailayer-gateway", {})
    for i in range(workers):
        port = free_port()
        system.behind.append(
            Server(
                name=f"worker-{i}",
                argv=ailayer_argv("serve", "--role", "worker", "--host", HOST, "--port", str(port)),
                port=port,
                env=system.env,
                cwd=system.cwd,
                log=system.cwd / f"worker-{i}.log",
            )
        )
    addresses = ",".join(f"{HOST}:{w.port}" for w in system.behind)
    system.env = system.env | {"AILAYER_MODEL_WORKERS": addresses}
    system.argv = [*system.argv, "--role", "gateway"]
    return system


def wait_listening(server: Server, timeout: float) -> None:
    """Wait until the server's port accepts a TCP connection (or it exits)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert server.process is not None
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.name} exited early: see {server.log.name}")
        try:
            socket.create_connection((HOST, server.port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.25)
    raise RuntimeError(f"{server.name} is not listening after {timeout:.0f} s")


def compiled_field(model: Model) -> bool:
    """Whether the served version's JSON (``GET /v1/models/{m}/versions/{v}``, which is
    ``ModelVersion.to_dict()``) has a ``serves_compiled`` field: compilation exists here."""
    from ailayer.bootstrap import build

    services = build(home_settings(model.home), migrate=False)
    try:
        tenant_id = services.keys.authenticate(model.key).tenant_id
        version = services.registry.resolve_alias(tenant_id, DEMO_ENDPOINT, "champion")
        return "serves_compiled" in version.to_dict()
    finally:
        services.close()


def set_serving(system: System, compiled: bool) -> None:
    """Serve the demo version's compiled form (``ailayer-compiled``) or its original (every
    other ailayer system: the targets about "the original model"), by the per-version
    switch ``POST /v1/models/{m}/versions/{v}/serving``; checks the version says so after."""
    _status, answer = request(system, "POST", system.path, system.body)
    version = json.loads(answer)["version"]
    path = f"/v1/models/{DEMO_ENDPOINT}/versions/{version}"
    body = json.dumps({"compiled": compiled}).encode()
    status, answer = request(system, "POST", f"{path}/serving", body)
    if status >= 300:
        raise RuntimeError(f"POST {path}/serving answered {status}: {answer[:300]!r}")
    status, answer = request(system, "GET", path)
    if json.loads(answer).get("serves_compiled") is not compiled:
        raise RuntimeError(f"{path} does not serve compiled={compiled}: {answer[:300]!r}")


# --- peers ------------------------------------------------------------------------------

BENTOML_SERVICE = """
import json, os
import bentoml
import numpy as np
import skops.io as sio

SPEC = json.loads(os.environ["BENCH_MODEL"])


@bentoml.service(workers=1, logging={"access": {"enabled": False}})
class Fraud:
    def __init__(self) -> None:
        with open(SPEC["file"], "rb") as f:
            self.model = sio.loads(f.read(), trusted=SPEC["trusted"])

    @bentoml.api
    def predict(self, rows: np.ndarray) -> np.ndarray:
        return self.model.predict_proba(rows)[:, 1]
"""

KSERVE_SERVER = """
import json, os
import numpy as np
import skops.io as sio
from kserve import Model, ModelServer

SPEC = json.loads(os.environ["BENCH_MODEL"])


class Fraud(Model):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.load()

    def load(self) -> bool:
        with open(SPEC["file"], "rb") as f:
            self.model = sio.loads(f.read(), trusted=SPEC["trusted"])
        self.ready = True
        return self.ready

    def predict(self, payload, headers=None):
        rows = np.asarray(payload["instances"], dtype=np.float64)
        return {"predictions": self.model.predict_proba(rows)[:, 1].tolist()}


if __name__ == "__main__":
    ModelServer().start([Fraud("fraud")])
"""


def peer_env(python: Path, model: Model, **extra: str) -> dict[str, str]:
    """The venv first on PATH, the model's file and trust list, no telemetry."""
    path = f"{python.parent}{os.pathsep}{os.environ.get('PATH', '')}"
    spec = json.dumps({"file": str(model.file), "trusted": model.trusted})
    return clean_env(PATH=path, BENCH_MODEL=spec, DO_NOT_TRACK="true", **extra)


def bentoml_system(model: Model, venv: Path) -> System:
    python = ensure_model_venv(venv, [BENTOML_PIN])
    here = folder(model, "bentoml")
    (here / "service.py").write_text(BENTOML_SERVICE)
    port = free_port()
    env = peer_env(python, model, BENTOML_HOME=str(here / "home"), BENTOML_DO_NOT_TRACK="true")
    bentoml = str(python.parent / "bentoml")
    return System(
        name="bentoml",
        argv=[bentoml, "serve", "service:Fraud", "--host", HOST, "--port", str(port)],
        port=port,
        env=env,
        cwd=here,
        log=here / "server.log",
        path="/predict",
        body=json.dumps({"rows": rows(model, [model.one])}).encode(),
        batch=json.dumps({"rows": rows(model, model.batch)}).encode(),
        scores=lambda answer: answer,  # type: ignore[arg-type,return-value]
    )


def kserve_system(model: Model, venv: Path) -> System:
    python = ensure_model_venv(venv, [KSERVE_PIN])
    here = folder(model, "kserve")
    (here / "server.py").write_text(KSERVE_SERVER)
    port = free_port()
    argv = [str(python), "server.py", "--http_port", str(port), "--workers", "1"]
    argv += ["--enable_grpc", "false", "--enable_latency_logging", "false"]
    return System(
        name="kserve",
        argv=argv,
        port=port,
        env=peer_env(python, model),
        cwd=here,
        log=here / "server.log",
        path="/v1/models/fraud:predict",
        body=json.dumps({"instances": rows(model, [model.one])}).encode(),
        batch=json.dumps({"instances": rows(model, model.batch)}).encode(),
        scores=lambda answer: answer["predictions"],  # type: ignore[index]
    )


def mlflow_system(model: Model, venv: Path) -> System:
    python = ensure_model_venv(venv, [MLFLOW_PIN])
    here = folder(model, "mlflow")
    print("saving the same estimator with mlflow.sklearn ...", flush=True)
    save_mlflow_model(python, model.file, model.trusted, model.features, here / "model")
    server = mlflow_server(
        python, here / "model", dataframe_split(model.features, [model.one]), here
    )
    return System(
        **{f: getattr(server, f) for f in ("name", "argv", "port", "env", "cwd", "log", "path")},
        body=server.body,
        batch=dataframe_split(model.features, model.batch),
        scores=lambda answer: [p[1] for p in answer["predictions"]],  # type: ignore[index]
    )


def floor_system(model: Model) -> System:
    server = floor_server(model.file, model.trusted, model.features, b"", folder(model, "floor"))
    return System(
        **{f: getattr(server, f) for f in ("name", "argv", "port", "env", "cwd", "log", "path")},
        body=json.dumps(model.one).encode(),
        batch=json.dumps(model.batch).encode(),
        scores=lambda answer: answer["scores"],  # type: ignore[index]
    )


def build_systems(model: Model, args: argparse.Namespace) -> tuple[list[System], dict[str, str]]:
    """The systems to run, and a note for each one skipped."""
    skipped = {name: "--skip" for name in args.skip}
    if "ailayer-gateway" not in skipped and not has_roles():
        skipped["ailayer-gateway"] = "`ailayer serve` has no --role on this checkout"
    if "ailayer-compiled" not in skipped and not compiled_field(model):
        skipped["ailayer-compiled"] = (
            "the version JSON has no `serves_compiled` field on this checkout"
        )
    makers: dict[str, Callable[[], System]] = {
        "floor": lambda: floor_system(model),
        "ailayer": lambda: ailayer_system(model, "ailayer", {}),
        "ailayer-unbatched": lambda: ailayer_system(
            model, "ailayer-unbatched", {"AILAYER_MICRO_BATCHING": "false"}
        ),
        "ailayer-gateway": lambda: gateway_system(model, args.gateway_workers),
        "ailayer-compiled": lambda: ailayer_system(model, "ailayer-compiled", {}),
        "bentoml": lambda: bentoml_system(model, BENCH_DIR / ".venv-bentoml"),
        "kserve": lambda: kserve_system(model, BENCH_DIR / ".venv-kserve"),
        "mlflow": lambda: mlflow_system(model, BENCH_DIR / ".venv-mlflow"),
    }
    systems = [makers[name]() for name in SYSTEMS if name not in skipped]
    for name, why in skipped.items():
        print(f"skipping {name}: {why}")
    return systems, skipped


def bring_up(system: System) -> None:
    for server in system.behind:
        start(server)
    for server in system.behind:
        wait_listening(server, STARTUP_TIMEOUT_S)
    start(system)
    wait_ready(system, STARTUP_TIMEOUT_S)
    if system.name.startswith("ailayer"):
        set_serving(system, compiled=system.name == "ailayer-compiled")


def shut_down(system: System) -> None:
    for server in (system, *system.behind):
        stop(server)


def check_scores(systems: list[System]) -> float:
    """Every system's scores of the 1,000 records, against the floor's; the largest
    difference (raises beyond the tolerance)."""
    by_name: dict[str, list[float]] = {}
    for system in systems:
        for path in {system.path, system.batch_path or system.path}:
            status, answer = request(system, "POST", path, system.batch)
            if status != 200:
                raise RuntimeError(f"{system.name} answered {status}: {answer[:300]!r}")
            scores = [float(x) for x in system.scores(json.loads(answer))]
            if by_name.setdefault(system.name, scores) != scores:
                raise RuntimeError(f"{system.name}'s answer in columns differs from its items")
    reference = by_name[systems[0].name]
    worst = 0.0
    for name, scores in by_name.items():
        if len(scores) != len(reference):
            raise RuntimeError(f"{name} answered {len(scores)} scores for {len(reference)} rows")
        diff = max(abs(a - b) for a, b in zip(scores, reference, strict=True))
        limit = COMPILED_TOLERANCE if name == "ailayer-compiled" else SCORE_TOLERANCE
        if diff > limit:
            raise RuntimeError(f"{name}'s scores differ from {systems[0].name}'s by {diff:.3g}")
        worst = max(worst, diff)
    return worst


# --- the runs ---------------------------------------------------------------------------


def rotated(systems: list[System], round_: int) -> list[System]:
    shift = round_ % len(systems)
    return systems[shift:] + systems[:shift]


def closed_loop(
    system: System, body: bytes, seconds: float, work: Path, path: str | None = None
) -> Measure:
    return measure(
        system.cpu_seconds, lambda: run_wrk(system, CONNECTIONS, seconds, work, body, path)
    )


def dropped_rows(system: System, key: str) -> float:
    """The rows an ailayer system's prediction log has dropped so far (0 for others)."""
    if not system.name.startswith(OURS):
        return 0.0
    return log_counts(system, key).get("dropped", 0.0)


def measure_closed(systems: list[System], args: argparse.Namespace, work: Path, key: str) -> None:
    """Warm every system up, then one-record and batch runs, round-robin. A batch run
    also counts the rows the system's prediction log dropped meanwhile: throughput
    bought by not logging is not the same throughput."""
    for system in systems:
        closed_loop(system, system.body, args.warmup, work)
        closed_loop(system, system.batch, 1, work, system.batch_path)
    for round_ in range(args.rounds):
        print(
            f"  round {round_ + 1}/{args.rounds}: one record and {BATCH_ROWS:,} records, c={CONNECTIONS}"
        )
        for system in rotated(systems, round_):
            system.add("one", closed_loop(system, system.body, args.duration, work))
            dropped = dropped_rows(system, key)
            paths = [("batch", system.batch_path)]
            if system.name == OURS:  # the default answer too: an object per record, the
                # two in turns (the first batch run after the one-record run pays for
                # the log process still writing that run's rows)
                paths.insert(round_ % 2, ("batch_items", None))
            kinds = []
            for kind, path in paths:
                run = closed_loop(system, system.batch, args.duration, work, path)
                system.add(kind, run)
                kinds.append((kind, run))
            system.batch_rows_dropped += dropped_rows(system, key) - dropped
            system.batch_rows_sent += sum(m.requests for _, m in kinds) * BATCH_ROWS
            one = system.measures["one"][-1]
            rows = " | ".join(
                f"{m.rps * BATCH_ROWS:9.0f} rows/s p99 {m.p99_ms:8.2f} ms"
                + (" (an object per record)" if kind == "batch_items" else "")
                for kind, m in kinds
            )
            print(
                f"    {system.name:<18} {one.rps:8.0f} req/s p99 {one.p99_ms:7.2f} ms | "
                f"{rows} | load {one.load:.1f}",
                flush=True,
            )


def measure_paced(
    systems: list[System], rate: float, args: argparse.Namespace, key: str = "paced"
) -> None:
    """p99 at ``rate`` (open loop) for every system whose peak is above it."""
    able = [s for s in systems if s.results["one"].rps > rate]
    for round_ in range(args.rounds):
        print(f"  round {round_ + 1}/{args.rounds}: {rate:.0f} req/s")
        for system in rotated(able, round_):
            run = measure(
                system.cpu_seconds,
                lambda s=system: run_python_load(s, args.duration, PACED_CONNECTIONS, rate),
            )
            system.add(key, run)


def run_systems(model: Model, args: argparse.Namespace) -> tuple[list[System], dict, dict]:
    systems, skipped = build_systems(model, args)
    facts: dict = {}
    try:
        for system in systems:
            print(f"starting {system.name} ...", flush=True)
            bring_up(system)
        worst = check_scores(systems)
        print(
            f"same scores for {BATCH_ROWS:,} records from every system (largest difference {worst:.2g})"
        )
        print(f"closed loop with wrk, {CONNECTIONS} connections:")
        measure_closed(systems, args, model.work, model.key)
        ours = next(s for s in systems if s.name == OURS)
        facts["paced_rate"] = rate = ours.results["one"].rps / 2
        print(f"open loop at half of {OURS}'s peak, {PACED_CONNECTIONS} connections:")
        measure_paced(systems, rate, args)
        compiled = next((s for s in systems if s.name == "ailayer-compiled"), None)
        if compiled is not None:  # the default form, at half of its own peak
            facts["paced_own_rate"] = own = compiled.results["one"].rps / 2
            print(f"open loop at half of ailayer-compiled's own peak ({own:.0f} req/s):")
            measure_paced([compiled], own, args, key="paced_own")
        time.sleep(2)  # a log flush interval and more: what was handed over is written
        facts["log"] = {
            s.name: log_counts(s, model.key) for s in systems if s.name.startswith("ailayer")
        }
    finally:
        for system in systems:
            shut_down(system)
    return systems, skipped, facts


# --- many tenants in one process --------------------------------------------------------


@dataclass
class Tenants:
    count: int
    budget_bytes: int
    setup_seconds: float = 0.0
    cold_ms: list[float] = field(default_factory=list)
    warm_ms: list[float] = field(default_factory=list)
    errors: int = 0
    rss_before: int = 0
    rss_after: int = 0
    metrics: dict[str, float] = field(default_factory=dict)


def register_tenants(home: Path, count: int) -> list[str]:
    """``count`` tenants on a fresh home, each with a service key and its own model
    ``fraud`` (the demo pipeline fitted on a bootstrap sample of its own) as champion."""
    import numpy as np
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from ailayer.bootstrap import build
    from ailayer.models.service import NewVersion
    from ailayer.simulate import FRAUD_FEATURES, fraud_training_frame, simulate

    frame, labels = fraud_training_frame(simulate(seed=5, n_payments=20_000))
    x, y = frame.to_numpy(dtype=float), labels.to_numpy()
    inputs = [{"name": name, "type": "double"} for name in FRAUD_FEATURES]
    rng = np.random.default_rng(5)
    services = build(home_settings(home))
    keys = []
    try:
        for i in range(count):
            tenant_id = services.keys.create_tenant(f"tenant-{i:04d}")
            keys.append(services.keys.create_key(tenant_id, "bench", "service").key)
            sample = rng.integers(0, len(x), 2_000)
            fitted = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500))
            fitted.fit(x[sample], y[sample])
            new = NewVersion(
                model=DEMO_ENDPOINT,
                flavor="sklearn",
                artifact=sio.dumps(fitted),
                signature={"inputs": inputs, "outputs": [{"name": "is_fraud", "type": "long"}]},
                aliases=["champion"],
            )
            services.registry.register(tenant_id, "bench", new)
    finally:
        services.close()
    return keys


def metrics_of(server: Server, key: str, wanted: tuple[str, ...]) -> dict[str, float]:
    """The series named ``wanted`` from the server's ``/metrics`` (a name may carry
    ``_total``, which Prometheus clients add to counters)."""
    status, answer = request(server, "GET", "/metrics", headers={"Authorization": f"Bearer {key}"})
    if status != 200:
        raise RuntimeError(f"/metrics answered {status}")
    found = {}
    for line in answer.decode().splitlines():
        name, _, value = line.partition(" ")
        name = name.removesuffix("_total") if name.removesuffix("_total") in wanted else name
        if name in wanted:
            found[name] = float(value)
    return found


CACHE_SERIES = (
    "ailayer_models_loaded",
    "ailayer_model_cache_bytes",
    "ailayer_model_evictions_total",
    "ailayer_model_cache_budget_bytes",
    "ailayer_model_load_seconds_sum",
    "ailayer_model_load_seconds_count",
)
LOG_COUNTERS = ("written", "dropped", "failed")


def log_counts(system: System, key: str) -> dict[str, float]:
    """The prediction log's rows written, dropped (buffer full) and failed: an ailayer
    system's throughput counts only if its log kept up."""
    series = {f"ailayer_prediction_log_{counter}_rows": counter for counter in LOG_COUNTERS}
    return {series[name]: value for name, value in metrics_of(system, key, tuple(series)).items()}


def predict_as(server: Server, key: str, body: bytes) -> tuple[bool, float]:
    started = time.perf_counter()
    status, _answer = request(
        server, "POST", server.path, body, headers={"Authorization": f"Bearer {key}"}
    )
    return status == 200, (time.perf_counter() - started) * 1e3


def run_tenants(model: Model, args: argparse.Namespace) -> Tenants:
    """One ``ailayer serve`` with ``args.tenant_budget_mb`` of model cache and
    ``args.tenants`` tenants: a cold pass (each tenant's first request), then a warm one.
    One more tenant warms the process up first (imports, the first load), uncounted."""
    result = Tenants(args.tenants, int(args.tenant_budget_mb * (1 << 20)))
    here = folder(model, "tenants")
    print(f"registering {args.tenants:,} tenants with a model each ...", flush=True)
    started = time.perf_counter()
    keys = register_tenants(here / "home", args.tenants + 1)
    result.setup_seconds = time.perf_counter() - started
    port = free_port()
    server = Server(
        name="ailayer-tenants",
        argv=ailayer_argv("serve", "--host", HOST, "--port", str(port)),
        port=port,
        env=ailayer_env(here / "home") | {"AILAYER_MODEL_CACHE_BYTES": str(result.budget_bytes)},
        cwd=here,
        log=here / "server.log",
        path=f"/v1/predict/{DEMO_ENDPOINT}",
        headers={"Authorization": f"Bearer {keys[0]}"},
        body=json.dumps(model.one).encode(),
    )
    try:
        start(server)
        wait_ready(server, STARTUP_TIMEOUT_S)
        result.rss_before = resident_bytes(server)
        print(f"cold pass over {args.tenants:,} tenants, then a warm pass ...", flush=True)
        for samples in (result.cold_ms, result.warm_ms):
            for key in keys[1:]:
                ok, ms = predict_as(server, key, server.body)
                result.errors += not ok
                samples.append(ms)
        result.rss_after = resident_bytes(server)
        result.metrics = metrics_of(server, keys[0], CACHE_SERIES)
    finally:
        stop(server)
    return result


# --- report -----------------------------------------------------------------------------


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b else "-"


def print_table(systems: list[System], skipped: dict[str, str], facts: dict) -> None:
    by = {s.name: s.results for s in systems}
    floor, ours = by.get("floor"), by[OURS]
    print(f"\nmachine: {machine()}")
    print(
        "\n| system | 1 record req/s | p50 ms | p99 ms | CPU µs/req | ÷ floor | ailayer ÷ it "
        f"| {BATCH_ROWS:,}-record rows/s | p50 ms | p99 ms | ÷ floor | ailayer ÷ it "
        f"| p50 ms at {facts['paced_rate']:.0f}/s | p99 ms at {facts['paced_rate']:.0f}/s | errors | load avg |"
    )
    print("|---|" + "---:|" * 15)
    for system in systems:
        r = by[system.name]
        one, batch = r["one"], r["batch"]
        paced = r.get("paced")
        paced_cells = (
            f"{paced.p50_ms:.2f} | {paced.p99_ms:.2f}{' (' + str(paced.unfinished) + ' unfinished)' if paced.unfinished else ''}"
            if paced
            else "- | not run: peak below the rate"
        )
        errors = sum(m.errors for m in r.values())
        loads = [m.load for runs in system.measures.values() for m in runs]
        print(
            f"| {system.name} | {one.rps:,.0f} | {one.p50_ms:.2f} | {one.p99_ms:.2f} "
            f"| {one.cpu_us:,.0f} | {ratio(one.rps, floor['one'].rps) if floor else '-'} "
            f"| {ratio(ours['one'].rps, one.rps)} "
            f"| {batch.rps * BATCH_ROWS:,.0f} | {batch.p50_ms:.1f} | {batch.p99_ms:.1f} "
            f"| {ratio(batch.rps, floor['batch'].rps) if floor else '-'} "
            f"| {ratio(ours['batch'].rps, batch.rps)} | {paced_cells} | {errors} "
            f"| {min(loads):.1f}-{max(loads):.1f} |"
        )
    for name, why in skipped.items():
        print(f"| {name} | skipped: {why} |" + " |" * 14)
    lags = ", ".join(
        f"{s.name} {s.results['paced'].lag_p99_ms:.2f}" for s in systems if "paced" in s.results
    )
    print(f"\nopen-loop generator's own send lag, p99 ms (counted in the latencies): {lags}")
    own = by.get("ailayer-compiled", {}).get("paced_own")
    if own is not None:
        print(
            f"ailayer-compiled at half of its own peak ({facts['paced_own_rate']:.0f}/s): "
            f"p50 {own.p50_ms:.2f} ms, p99 {own.p99_ms:.2f} ms, {own.unfinished} unfinished, "
            f"generator lag p99 {own.lag_p99_ms:.2f} ms"
        )
    drops = ", ".join(
        f"{s.name} {s.batch_rows_dropped / s.batch_rows_sent:.1%}"
        for s in systems
        if s.name.startswith(OURS) and s.batch_rows_sent
    )
    print(f"prediction log rows dropped during the {BATCH_ROWS:,}-record runs: {drops}")
    items = ours.get("batch_items")
    if items is not None and floor:
        print(
            f"{OURS}'s {BATCH_ROWS:,}-record batches answered with an object per record (no "
            f"?columns=true): {items.rps * BATCH_ROWS:,.0f} rows/s, "
            f"{ratio(items.rps, floor['batch'].rps)} the floor's; in columns "
            f"{ours['batch'].rps * BATCH_ROWS:,.0f} rows/s"
        )
    logs = ", ".join(
        f"{name} {c.get('written', 0):,.0f} written, {c.get('dropped', 0):,.0f} dropped, "
        f"{c.get('failed', 0):,.0f} failed"
        for name, c in facts.get("log", {}).items()
    )
    print(f"prediction log rows after the runs: {logs}")


def print_tenants(t: Tenants) -> None:
    cold, warm = sorted(t.cold_ms), sorted(t.warm_ms)
    m = t.metrics
    loads = m.get("ailayer_model_load_seconds_count", 0)
    mean_load = m.get("ailayer_model_load_seconds_sum", 0) / loads * 1e3 if loads else float("nan")
    print(
        f"\n{t.count:,} tenants, one model each, one process, model_cache_bytes "
        f"{t.budget_bytes / (1 << 20):.0f} MiB (set-up: {t.setup_seconds:.0f} s to register):\n"
    )
    print("| pass | p50 ms | p99 ms | max ms | errors |")
    print("|---|---:|---:|---:|---:|")
    for name, values in (("cold (first request of each tenant)", cold), ("warm (second)", warm)):
        print(
            f"| {name} | {percentile(values, 50):.2f} | {percentile(values, 99):.2f} "
            f"| {values[-1]:.2f} | {t.errors if name.startswith('cold') else 0} |"
        )
    print(
        f"\nmodels loaded {m.get('ailayer_models_loaded', 0):.0f}, cache's measured bytes "
        f"{m.get('ailayer_model_cache_bytes', 0) / (1 << 20):.1f} MiB, evictions "
        f"{m.get('ailayer_model_evictions_total', 0):.0f}, mean load (server side) "
        f"{mean_load:.2f} ms; RSS {t.rss_before / (1 << 20):.0f} → "
        f"{t.rss_after / (1 << 20):.0f} MiB (+{(t.rss_after - t.rss_before) / (1 << 20):.0f} MiB)"
    )


Check = tuple[str, str, bool | None]  # (target, measured, met; None: pending)


def target_checks(systems: list[System], skipped: dict[str, str], t: Tenants | None) -> list[Check]:
    by = {s.name: s.results for s in systems}
    by_system = {s.name: s for s in systems}
    ours, floor = by[OURS], by["floor"]
    checks: list[Check] = []

    def times(text: str, value: float, wanted: float) -> None:
        checks.append((text, f"{value:.2f}x", value >= wanted))

    times(
        f"1 record, c=8: >= {TARGET_FLOOR_ONE}x the floor",
        ours["one"].rps / floor["one"].rps,
        TARGET_FLOOR_ONE,
    )
    text = f"1 record, c=8, compiled model: >= {TARGET_COMPILED_FLOOR_ONE}x the floor"
    if "ailayer-compiled" in by:
        value = by["ailayer-compiled"]["one"].rps / floor["one"].rps
        times(text, value, TARGET_COMPILED_FLOOR_ONE)
    else:
        checks.append((text, f"skipped: {skipped.get('ailayer-compiled')}", None))
    batch_check(checks, by_system[OURS], floor, "")
    if "ailayer-compiled" in by:
        batch_check(checks, by_system["ailayer-compiled"], floor, ", compiled model (the default)")
    else:
        text = f"{BATCH_ROWS:,}-record batches, compiled model (the default)"
        checks.append((text, f"skipped: {skipped.get('ailayer-compiled')}", None))
    for name, wanted in TARGET_PEERS.items():
        text = f"1 record, c=8: >= {wanted:g}x {name} at equal or lower p99"
        if name not in by:
            checks.append((text, f"skipped: {skipped.get(name)}", None))
            continue
        value = ours["one"].rps / by[name]["one"].rps
        theirs = by[name]["one"].p99_ms
        met = value >= wanted and ours["one"].p99_ms <= theirs
        checks.append((text, f"{value:.2f}x, p99 {ours['one'].p99_ms:.2f} vs {theirs:.2f} ms", met))
    for name, key, what in (
        (OURS, "paced", "original model"),
        ("ailayer-compiled", "paced_own", "compiled model (the default), half of its own peak"),
    ):
        paced = by.get(name, {}).get(key)
        p99 = float("inf") if paced is None or paced.unfinished else paced.p99_ms
        text = f"p99 <= {TARGET_PACED_P99_MS:g} ms at half of the peak, {what}"
        checks.append((text, f"{p99:.2f} ms", p99 <= TARGET_PACED_P99_MS))
    if t is not None:
        checks.append(tenants_check(t))
    return checks


def batch_check(checks: list[Check], system: System, floor: dict, what: str) -> None:
    """Rows/s against the floor's, met only when the system's prediction log kept every
    row of those runs: rows answered but not logged are work not done."""
    value = system.results["batch"].rps / floor["batch"].rps
    share = system.batch_rows_dropped / system.batch_rows_sent if system.batch_rows_sent else 0.0
    text = (
        f"{BATCH_ROWS:,}-record batches{what}, answered in columns: >= {TARGET_FLOOR_BATCH}x "
        "the floor's rows/s, log complete"
    )
    measured = f"{value:.2f}x, log dropped {share:.1%} of the rows"
    checks.append((text, measured, value >= TARGET_FLOOR_BATCH and share == 0.0))


def tenants_check(t: Tenants) -> Check:
    """Every tenant answered, and the loaded models' measured bytes stayed within the
    declared budget. The RSS growth is reported, not judged: it also holds each tenant's
    key, routes and prediction-log buffer, which the model budget does not cover."""
    growth = t.rss_after - t.rss_before
    cache = t.metrics.get("ailayer_model_cache_bytes", float("inf"))
    met = t.errors == 0 and cache <= t.budget_bytes
    mib = 1 << 20
    return (
        f"{t.count:,} tenants' models in one process within {t.budget_bytes / mib:.0f} MiB",
        f"{'all' if t.errors == 0 else 'NOT all'} answered; cache {cache / mib:.1f} MiB, "
        f"RSS +{growth / mib:.0f} MiB; cold-start p99 {percentile(sorted(t.cold_ms), 99):.1f} ms",
        met,
    )


def print_targets(checks: list[Check]) -> bool:
    print("\ntargets (ailayer embedded, micro-batching on, unless named):")
    for text, value, met in checks:
        word = "PENDING" if met is None else "MET" if met else "NOT MET"
        print(f"  {word:8} {text}: {value}")
    return all(met is not False for *_, met in checks)


# --- the command ------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="interleaved runs per measurement")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per run")
    parser.add_argument("--warmup", type=float, default=3.0, help="warm-up seconds per system")
    parser.add_argument(
        "--skip",
        nargs="+",
        default=[],
        choices=(*SYSTEMS, "tenants"),
        metavar="SYSTEM",
        help=f"leave systems out: {', '.join(SYSTEMS)}, tenants",
    )
    parser.add_argument("--tenants", type=int, default=1000, help="tenants in the many-tenants run")
    parser.add_argument(
        "--tenant-budget-mb", type=float, default=64.0, help="model_cache_bytes of that run, MiB"
    )
    parser.add_argument(
        "--gateway-workers", type=int, default=2, help="model workers behind the gateway"
    )
    parser.add_argument(
        "--quick", action="store_true", help="1 round of 2 s, 1 s warm-up, 200 tenants"
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.duration, args.warmup, args.tenants = 1, 2.0, 1.0, min(args.tenants, 200)
    if "floor" in args.skip or OURS in args.skip:
        parser.error(
            f"floor and {OURS} are what the others are compared with: they cannot be skipped"
        )
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if shutil.which("wrk") is None:
        print("needs wrk (Debian: apt-get install -y wrk)", file=sys.stderr)
        return 2
    busy = cpu_busy()
    print(machine())
    shown = "unknown" if busy is None else f"{busy:.0%}"
    print(f"CPU busy before the run: {shown}; load average {load_average():.2f}")
    work = Path(tempfile.mkdtemp(prefix="ailayer-bench-"))
    try:
        model = prepare_model(work)
        systems, skipped, facts = run_systems(model, args)
        tenants = None if "tenants" in args.skip else run_tenants(model, args)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print_table(systems, skipped, facts)
    if tenants is not None:
        print_tenants(tenants)
    checks = target_checks(systems, skipped, tenants)
    met = print_targets(checks)
    if args.json:
        results = {s.name: {k: asdict(m) for k, m in s.results.items()} for s in systems}
        report = {
            "machine": machine(),
            "cpu_busy_before": busy,
            "facts": facts,
            "skipped": skipped,
            "results": results,
            "batch_log_rows": {
                s.name: {"sent": s.batch_rows_sent, "dropped": s.batch_rows_dropped}
                for s in systems
                if s.name.startswith(OURS)
            },
            "tenants": asdict(tenants) if tenants else None,
            "targets": checks,
        }
        args.json.write_text(json.dumps(report, indent=2))
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
