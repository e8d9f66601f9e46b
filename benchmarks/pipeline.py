"""ailayer's batch engines side by side, with Feast for the training set, in one run.

Two batch jobs, each on DuckDB (the default engine, in-process) and on Spark in local
mode (``batch_engine: spark``, ``spark_master: local[*]``):

  training set  a point-in-time training set for ``--rows`` entity rows (default
                1,000,000) against a ``--rows``-row feature table of ``--rows / 10``
                entities, 10 float features, TTL 1 day (the data of
                ``benchmarks/features.py``: about 9 % of the entity ids have no feature
                rows and many rows fall outside the TTL); ailayer
                ``OfflineStore.get_training_set`` on each engine vs Feast's DuckDB offline
                store ``get_historical_features(...).to_df()``, all from the same pandas
                entity frame to pandas;
  batch scoring ``ailayer score``'s service (``score_file``) on ``--rows`` rows of a Parquet
                file through the demo fraud model (what ``ailayer up`` trains), into
                Parquet.

Every run is a fresh process. Reported: wall time of the job itself (the Spark session is
started before the clock starts, and its start-up is reported on its own), rows per
second, and peak memory: the highest resident set (``VmHWM``) of the process plus, for
Spark, of the JVM and the Python workers it started (summed: an upper bound of what they
held at once). Each system's answer is checked against the others (rows, empty rows and
the sum of one feature or of the scores).

Feast is installed on first run into ``benchmarks/.venv-feast`` by the code of
``benchmarks/features.py`` (shared with it); Spark needs the ``spark`` extra
(``pip install 'ailayer[spark]'``) and Java 17+.

Run from the repository root:

    python benchmarks/pipeline.py
    python benchmarks/pipeline.py --rows 100000 --repeats 1 --skip-feast
    python benchmarks/pipeline.py --json /tmp/pipeline-bench.json

It prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from features import (
    DEFAULT_VENV,
    PIT_TIMEOUT_S,
    VIEW,
    Data,
    Feast,
    ailayer_settings,
    feast_child,
    feast_spec,
    make_data,
    run_json,
    setup_ailayer,
    setup_feast,
)
from harness import clean_env, home_settings, machine, median, setup_ailayer_home

FEATURES = [f"f{i}" for i in range(10)]
SPARK_MASTER = "local[*]"
SPARK_CONF = {"spark.driver.memory": "4g", "spark.sql.shuffle.partitions": "16"}
SCORE_SEED = 7


# --- children (run as: python pipeline.py --child MODE SPEC) ---------------------------------


def tree_peak_mb() -> float:
    """Peak resident memory of this process and every process it started (the JVM and
    its Python workers), summed."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    tree, frontier = {os.getpid()}, [os.getpid()]
    while frontier:
        pid = frontier.pop()
        children = [child for child, parent in parents.items() if parent == pid]
        tree.update(children)
        frontier += children
    total_kb = 0
    for pid in tree:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total_kb += int(line.split()[1])
        except OSError:
            continue
    return total_kb / 1024


def engine_settings(spec: dict) -> Any:
    home = Path(spec["home"])
    if spec["stores"] == "scoring":  # the home `ailayer up` made
        settings = home_settings(home)
    else:
        settings = ailayer_settings(home, f"sqlite:///{home / 'online.db'}")
    return settings.model_copy(
        update={
            "batch_engine": spec["engine"],
            "spark_master": SPARK_MASTER,
            "spark_conf": SPARK_CONF,
        }
    )


def started(services: Any) -> float:
    """Start the engine's session (Spark) before timing; the seconds it took."""
    began = time.perf_counter()
    session = getattr(services.offline.engine, "session", None)
    if session is not None:
        session()
    return time.perf_counter() - began


def child_pit(spec: dict) -> Any:
    import pandas as pd

    from ailayer.bootstrap import build

    services = build(engine_settings(spec), migrate=False)
    try:
        entity_df = pd.read_parquet(spec["entities"])
        refs = [f"{VIEW}:{f}" for f in FEATURES]
        services.features.catalog(spec["tenant"])
        startup = started(services)
        began = time.perf_counter()
        df, _ = services.offline.get_training_set(spec["tenant"], entity_df, refs, keep=False)
        seconds = time.perf_counter() - began
        return {
            "seconds": seconds,
            "startup_s": startup,
            "peak_mb": tree_peak_mb(),
            "rows": len(df),
            "null_rows": int(df["f0"].isna().sum()),
            "check": float(df["f0"].sum()),
        }
    finally:
        services.close()


def child_score(spec: dict) -> Any:
    import pyarrow.compute as pc
    import pyarrow.dataset as ds

    from ailayer.bootstrap import build
    from ailayer.serving.batch_score import score_file

    services = build(engine_settings(spec), migrate=False)
    try:
        tenant = services.keys.authenticate(spec["key"]).tenant_id
        startup = started(services)
        began = time.perf_counter()
        result = score_file(
            services.predictor.resolver,
            services.registry,
            services.offline.engine,
            tenant,
            "fraud",
            spec["input"],
            spec["output"],
        )
        seconds = time.perf_counter() - began
        peak = tree_peak_mb()
        scores = ds.dataset(spec["output"]).to_table(columns=["score"]).column("score")
        return {
            "seconds": seconds,
            "startup_s": startup,
            "peak_mb": peak,
            "rows": result.rows,
            "null_rows": scores.null_count,
            "check": float(pc.sum(scores).as_py()),
        }
    finally:
        services.close()


CHILDREN = {"pit": child_pit, "score": child_score}


def child(mode: str, spec: dict, log: Path) -> Any:
    argv = [sys.executable, str(Path(__file__).resolve()), "--child", mode, json.dumps(spec)]
    env = clean_env(AILAYER_CONFIG=str(log.parent / "none.yaml"), AILAYER_LOG_PROCESS="false")
    return run_json(argv, env, PIT_TIMEOUT_S, log)


# --- set-up ------------------------------------------------------------------------------


# plausible values of the demo model's inputs (others: uniform 0-1000): (low, high, whole)
INPUT_RANGES = {
    "amount": (1.0, 2000.0, False),
    "card_age_days": (0.0, 1000.0, True),
    "device_new": (0.0, 1.0, True),
    "hour_of_day": (0.0, 23.0, True),
    "payments_last_24h": (0.0, 20.0, True),
    "foreign_country": (0.0, 1.0, True),
}


def scoring_input(home: Path, key: str, rows: int, path: Path) -> None:
    """``rows`` rows for the demo model's signature, each input drawn from its range."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from ailayer.bootstrap import build

    services = build(home_settings(home), migrate=False)
    try:
        tenant = services.keys.authenticate(key).tenant_id
        target = services.predictor.resolver.resolve(tenant, "fraud")
        inputs = target.signature.inputs
    finally:
        services.close()
    rng = np.random.default_rng(SCORE_SEED)
    columns: dict[str, Any] = {"id": pa.array(np.arange(rows, dtype=np.int64))}
    for name, type_ in inputs:
        low, high, whole = INPUT_RANGES.get(name, (0.0, 1000.0, False))
        if type_ == "boolean":
            columns[name] = pa.array(rng.random(rows) < 0.5)
        elif type_ == "long" or whole:
            values = rng.integers(int(low), int(high) + 1, rows)
            columns[name] = pa.array(values if type_ == "long" else values.astype(float))
        else:
            columns[name] = pa.array(rng.uniform(low, high, rows))
    pq.write_table(pa.table(columns), path, row_group_size=100_000)


# --- runs -----------------------------------------------------------------------------------


def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    end = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    print(f"generating data: {args.rows:,} feature rows, {args.rows:,} entity rows ...")
    data: Data = make_data(work, args.rows, 0, end)
    print("ailayer: apply + materialize ...", flush=True)
    state = setup_ailayer(work, data, False)
    feast: Feast | None = None
    if not args.skip_feast:
        print("feast: venv, apply + materialize ...", flush=True)
        feast = setup_feast(args, work, data, False)
    print("ailayer up --no-serve (the demo fraud model) ...", flush=True)
    (work / "scoring").mkdir()
    score_home, key = setup_ailayer_home(work / "scoring")
    scoring_input(score_home, key, args.rows, work / "score-in.parquet")

    log = work / "children.log"
    pit = {"home": str(state.home), "stores": "features", "tenant": state.tenant}
    pit["entities"] = str(data.entity_path)
    score = {"home": str(score_home), "stores": "scoring", "key": key}
    score["input"] = str(work / "score-in.parquet")
    jobs: list[tuple[str, Any]] = []
    for engine in args.engines:
        jobs.append(
            (f"training set/{engine}", lambda e=engine: child("pit", {**pit, "engine": e}, log))
        )
    if feast is not None:
        spec = feast_spec(feast, data, "sqlite", entities=str(data.entity_path))
        jobs.append(
            ("training set/feast", lambda: feast_child(feast, "pit", spec, PIT_TIMEOUT_S, log))
        )
    for engine in args.engines:
        out = work / f"scored-{engine}.parquet"
        jobs.append((f"batch scoring/{engine}", lambda e=engine, o=out: scored(e, o, score, log)))
    rounds: dict[str, list[dict]] = {name: [] for name, _ in jobs}
    for i in range(args.repeats):  # interleaved: load from elsewhere falls on all alike
        for name, job in jobs:
            print(f"  {name} run {i + 1}/{args.repeats} ...", flush=True)
            rounds[name].append(job())
    return {
        name: {key: median([r[key] for r in done]) for key in done[0]} | {"rounds": done}
        for name, done in rounds.items()
    } | {"_feast_version": feast.version if feast else None}


def scored(engine: str, out: Path, spec: dict, log: Path) -> Any:
    try:
        return child("score", {**spec, "engine": engine, "output": str(out)}, log)
    finally:
        shutil.rmtree(out, ignore_errors=True) if out.is_dir() else out.unlink(missing_ok=True)


# --- report ---------------------------------------------------------------------------------


def print_table(results: dict[str, Any], rows: int) -> None:
    print(f"\n{rows:,} rows; median of each system's runs\n")
    print("| job | system | seconds | rows/s | peak memory (MB) | start-up (s) | check |")
    print("|---|---|---:|---:|---:|---:|---|")
    for name, r in results.items():
        if name.startswith("_"):
            continue
        job, system = name.split("/")
        startup = r.get("startup_s")
        check = f"{r['rows']:,} rows, {r['null_rows']:,} empty, sum {r.get('check', r.get('f0_sum')):.6g}"
        print(
            f"| {job} | {system} | {r['seconds']:.2f} | {r['rows'] / r['seconds']:,.0f} "
            f"| {r['peak_mb']:,.0f} | {'' if startup is None else f'{startup:.1f}'} | {check} |"
        )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--engines", nargs="+", default=["duckdb", "spark"])
    parser.add_argument("--skip-feast", action="store_true")
    parser.add_argument("--feast-venv", type=Path, default=DEFAULT_VENV)
    parser.add_argument("--json", type=Path, default=None, help="Also write the results here.")
    parser.add_argument("--child", nargs=2, metavar=("MODE", "SPEC"), help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        mode, spec = args.child
        print(json.dumps(CHILDREN[mode](json.loads(spec))), flush=True)
        return 0
    print(machine(), flush=True)
    work = Path(tempfile.mkdtemp(prefix="ailayer-pipeline-bench-"))
    try:
        results = run(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print_table(results, args.rows)
    if results.get("_feast_version"):
        print(f"\nFeast {results['_feast_version']} (DuckDB offline store)")
    if args.json:
        args.json.write_text(json.dumps({"rows": args.rows, "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
