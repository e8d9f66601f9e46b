"""Console page latency on real data: a 1,000,000-row prediction log, 100 model versions.

    python benchmarks/dashboard.py [--rows 1000000] [--requests 20] [--work DIR]

Seeds a home of its own: 10 models of 10 versions each (the demo fraud model registered
100 times, uncompiled, the last version of each its ``champion``), a stored drift
reference for the last two versions of each, the prediction log of 10 endpoints over
the last 7 days, written as Parquet parts straight through the log's own layout
(``prediction_dir``, ``write_part``; one part per endpoint and hour, rows in the sink's
``SCHEMA``; 1 % failed requests; 10 % from the previous version as a canary), and labels
for 5 % of the predictions (``feedback_dir``, the feedback ``SCHEMA``). Then one rollup pass folds the log into
``log_rollups`` (its time is reported), ``ailayer serve`` starts on it, a session signs
in like a browser, and every page is requested ``--requests`` times, interleaved across
pages in a shuffled order per round. The first request of each page is reported apart
("first"): the pages whose reports the log cannot pre-aggregate (drift, quality against
labels, concept alarms, cost) compute them then and serve them from a one-minute cache
after; the p50/p95 are over the other requests. Prints a table, the machine and the load
average (the machine may be shared: read the numbers with it).
"""

from __future__ import annotations

import argparse
import dataclasses
import http.client
import random
import re
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

import harness

MODELS, VERSIONS, ENDPOINT_DAYS = 10, 10, 7
PAGES = [
    "/ui/",
    "/ui/models",
    "/ui/models/m0",
    "/ui/models/m0/versions/10",
    "/ui/deployments",
    "/ui/monitoring",
    "/ui/monitoring/m0",
    "/ui/features",
    "/ui/events",
    "/ui/alerts",
    "/ui/pipelines",
    "/ui/audit",
    "/ui/cost",
]
TARGET_MS = 500.0


def seed(home: Path, rows: int) -> tuple[str, float]:
    """The models and the log in ``home``; the admin key and the rollup pass's seconds."""
    import numpy as np

    from ailayer.bootstrap import build
    from ailayer.demo.fraud import train_fraud_model
    from ailayer.monitoring.log.layout import feedback_dir, prediction_dir, write_part

    services = build(harness.home_settings(home))
    try:
        tenant = services.keys.create_tenant("bench")
        key = services.keys.create_key(tenant, "bench-admin", "admin").key
        trained = train_fraud_model()
        for m in range(MODELS):
            for v in range(VERSIONS):
                new = dataclasses.replace(
                    trained.version,
                    model=f"m{m}",
                    compile=False,
                    aliases=["champion"] if v == VERSIONS - 1 else [],
                    metrics={**trained.version.metrics, "roc_auc": 0.8 + 0.01 * v},
                )
                services.registry.register(tenant, "bench", new)
        inputs = [field["name"] for field in trained.version.signature["inputs"]]
        rng = np.random.default_rng(7)
        now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        hours = ENDPOINT_DAYS * 24
        parts = MODELS * hours
        sizes = [rows // parts + (1 if i < rows % parts else 0) for i in range(parts)]
        root = services.offline.tenant_root(tenant)
        labels: dict = {}
        for i, n in enumerate(sizes):
            m, h = divmod(i, hours)
            start = now - timedelta(hours=hours - h)
            part = _part(rng, tenant, f"m{m}", start, n, inputs)
            write_part(part, prediction_dir(root, f"m{m}", start.date()))
            _labels(rng, part, labels.setdefault(start.date(), []))
        for day, rows_of_day in labels.items():
            write_part(_feedback(tenant, rows_of_day), feedback_dir(root, day))
        import pandas as pd

        for m in range(MODELS):  # a stored drift reference for the champion and the canary
            for v in (VERSIONS - 1, VERSIONS):
                frame = pd.DataFrame(rng.normal(0.1, 1, (2000, len(inputs))), columns=inputs)
                services.drift.references.put(tenant, f"m{m}", v, frame)
        started = time.perf_counter()
        services.rollup.run_once(datetime.now(UTC) + timedelta(minutes=2))
        return key, time.perf_counter() - started
    finally:
        services.close()


def _part(rng, tenant: str, model: str, start: datetime, n: int, inputs: list[str]):  # type: ignore[no-untyped-def]
    """``n`` logged predictions of one endpoint in the hour from ``start``: 90 % from the
    champion (v10), 10 % from v9 as a canary; 1 % failed requests."""
    import numpy as np
    import orjson
    import pyarrow as pa

    from ailayer.monitoring.log.sink import SCHEMA as schema

    seconds = np.sort(rng.uniform(0, 3600, n))
    times = [int((start.timestamp() + s) * 1_000_000) for s in seconds]
    canary = rng.random(n) < 0.1
    failed = rng.random(n) < 0.01
    values = rng.normal(0, 1, (n, len(inputs)))
    features = [
        orjson.dumps(dict(zip(inputs, row.tolist(), strict=True))).decode() for row in values
    ]
    score = rng.random(n)
    columns = {
        "prediction_id": [f"{t // 1000:012x}7{rng.bytes(10).hex()[:19]}" for t in times],
        "tenant_id": [tenant] * n,
        "model": [model] * n,
        "version": [9 if c else 10 for c in canary],
        "alias": ["canary" if c else "champion" for c in canary],
        "time": times,
        "latency_ms": rng.lognormal(1.5, 0.6, n).tolist(),
        "request_row": [0] * n,
        "features": [None if f else x for f, x in zip(failed, features, strict=True)],
        "prediction": [
            None if f else ("true" if s > 0.5 else "false")
            for f, s in zip(failed, score, strict=True)
        ],
        "score": [None if f else float(s) for f, s in zip(failed, score, strict=True)],
        "probabilities": [None] * n,
        "error": ["model_error: boom" if f else None for f in failed],
    }
    return pa.table(
        {name: pa.array(columns[name], schema.field(name).type) for name in schema.names},
        schema=schema,
    )


def _labels(rng, part, into: list) -> None:  # type: ignore[no-untyped-def]
    """A label for 5 % of a part's answered predictions (the truth agrees 80 % of the
    time), as (prediction id, label, time)."""
    ids = part.column("prediction_id").to_pylist()
    predictions = part.column("prediction").to_pylist()
    times = part.column("time").to_pylist()
    for i in range(len(ids)):
        if predictions[i] is not None and rng.random() < 0.05:
            agrees = rng.random() < 0.8
            label = predictions[i] if agrees else ("false" if predictions[i] == "true" else "true")
            into.append((ids[i], label, times[i]))


def _feedback(tenant: str, rows: list):  # type: ignore[no-untyped-def]
    import pyarrow as pa

    from ailayer.monitoring.log.feedback import SCHEMA

    received = [t + timedelta(hours=1) for _, _, t in rows]
    columns = {
        "prediction_id": [r[0] for r in rows],
        "tenant_id": [tenant] * len(rows),
        "label": [r[1] for r in rows],
        "label_time": [r[2] for r in rows],
        "received_at": received,
    }
    return pa.table(
        {n: pa.array(columns[n], SCHEMA.field(n).type) for n in SCHEMA.names}, schema=SCHEMA
    )


def sign_in(server: harness.Server, key: str) -> str:
    """The session cookie, got as a browser gets it (the form's cookie, then the POST)."""
    conn = http.client.HTTPConnection(harness.HOST, server.port, timeout=30)
    try:
        conn.request("GET", "/ui/signin")
        response = conn.getresponse()
        response.read()
        form = re.search(r"ailayer_signin=([^;]+)", response.getheader("Set-Cookie") or "")
        assert form, "the sign-in page sets its form cookie"
        body = urlencode({"csrf_token": form.group(1), "credential": key, "next": "/ui/"})
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": f"ailayer_signin={form.group(1)}",
        }
        conn.request("POST", "/ui/signin", body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        session = re.search(r"ailayer_session=([^;]+)", response.getheader("Set-Cookie") or "")
        assert response.status == 303 and session, f"sign-in answered {response.status}"
        return session.group(1)
    finally:
        conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=20, help="requests per page")
    parser.add_argument("--work", type=Path, default=None)
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="ailayer-dashboard-bench-"))
    home = work / "home"
    print(f"machine: {harness.machine()}")
    print(f"load average before: {harness.load_average():.2f}")
    started = time.perf_counter()
    key, rollup_seconds = seed(home, args.rows)
    print(
        f"seeded {args.rows:,} log rows, {MODELS * VERSIONS} versions in "
        f"{time.perf_counter() - started:.0f} s; rollup pass {rollup_seconds:.1f} s"
    )
    port = harness.free_port()
    env = harness.ailayer_env(home)
    env["AILAYER_METADATA_URL"] = f"sqlite:///{home / 'meta.db'}"
    env["AILAYER_ARTIFACTS"] = f"file://{home}/artifacts"
    server = harness.Server(
        "ailayer",
        harness.ailayer_argv("serve", "--port", str(port)),
        port,
        env,
        work,
        work / "serve.log",
    )
    harness.start(server)
    try:
        _wait(server)
        cookie = sign_in(server, key)
        headers = {"Cookie": f"ailayer_session={cookie}"}
        first: dict[str, float] = {}
        times: dict[str, list[float]] = {p: [] for p in PAGES}
        order = list(PAGES)
        rng = random.Random(1)
        for round_ in range(args.requests + 1):
            rng.shuffle(order)
            for path in order:
                began = time.perf_counter()
                status, body = harness.request(server, "GET", path, headers=headers, timeout=120)
                elapsed = (time.perf_counter() - began) * 1000
                if status != 200:
                    raise RuntimeError(f"{path} answered {status}: {body[:300]!r}")
                if round_ == 0:
                    first[path] = elapsed
                else:
                    times[path].append(elapsed)
        load = harness.load_average()
        ready = _reports_ready(server, headers, "/ui/monitoring/m1")
    finally:
        harness.stop(server)
    print()
    print(f"{'page':32} {'first ms':>9} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}  ≤ 500 ms p95")
    for path in PAGES:
        ordered = sorted(times[path])
        p50, p95 = harness.percentile(ordered, 50), harness.percentile(ordered, 95)
        print(
            f"{path:32} {first[path]:9.0f} {p50:8.0f} {p95:8.0f} {ordered[-1]:8.0f}  "
            f"{'yes' if p95 <= TARGET_MS else 'NO'}"
        )
    print(f"\nload average after: {load:.2f}; {args.requests} requests per page after the first")
    print(
        f"the background reports of an endpoint not opened before (drift over time, quality, "
        f"concept alarms of /ui/monitoring/m1) were shown {ready:.1f} s after its first view"
    )


def _reports_ready(server: harness.Server, headers: dict[str, str], path: str) -> float:
    """Seconds from a page's first view until it shows no part still being computed."""
    began = time.perf_counter()
    while time.perf_counter() - began < 600:
        status, body = harness.request(server, "GET", path, headers=headers, timeout=120)
        if status != 200:
            raise RuntimeError(f"{path} answered {status}")
        if b"Being computed" not in body:
            return time.perf_counter() - began
        time.sleep(0.5)
    raise RuntimeError(f"{path} still computing after 600 s")


def _wait(server: harness.Server, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert server.process is not None
        if server.process.poll() is not None:
            raise RuntimeError(f"the server exited:\n{harness.log_tail(server)}")
        try:
            status, _ = harness.request(server, "GET", "/healthz", timeout=5)
            if status == 200:
                return
        except (OSError, http.client.HTTPException):
            pass
        time.sleep(0.25)
    raise RuntimeError(f"the server was not ready after {timeout:.0f} s")


if __name__ == "__main__":
    sys.exit(main())
