"""How fast is ailayer's data-drift report, and does it decide like Evidently and SciPy?

Side by side in one run, on the same seeded data (200,000 reference and 200,000 current
rows x 20 numeric and 5 categorical features; 9 numeric and 3 categorical columns
altered, 6 and 1 of them beyond the default thresholds):

  ailayer    ``DataDriftDetector().fit(reference).report(current)`` from the raw frames
             (both windows summarized), and the same report from a stored reference
             profile (``Profile.from_bytes``: only the current window is summarized);
  evidently  Evidently's default ``Report([DataDriftPreset()])`` (``Dataset.from_pandas`` +
             ``run``), in its own virtual environment ``benchmarks/.venv-evidently``
             (created on first run with ``pip install "evidently>=0.7" "pandas<3"``,
             reused after), run in a subprocess from a driver written to a temp dir.

Both use the same default test selection (more than 1,000 reference rows: Wasserstein
normalized by the reference std for numeric, Jensen-Shannon for categorical, both >= 0.1).
The script checks that every column gets the same decision, that ailayer's statistics
are within 1e-9 of SciPy's on the raw rows, and times a 1,000,000 x 100 report (90
numeric, 10 categorical) from a stored reference profile, the current window arriving in
chunks of 250,000 rows whose profiles are merged (its summaries are sketches, so its
statistics are compared with SciPy's as an approximation, not to 1e-9).

Each timing is repeated (``--repeats``, default 3) and the median reported, since other
work may share the machine. Run from the repository root:

    python benchmarks/drift.py
    python benchmarks/drift.py --skip-evidently --rows 50000
    python benchmarks/drift.py --json /tmp/drift.json

It prints a Markdown table and each target as MET / NOT MET, and exits 1 when one is not.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from harness import ensure_venv, imports, machine
from scipy import stats
from scipy.spatial import distance

from ailayer.monitoring.drift import DataDriftDetector, Profile, compare, profile

BENCH_DIR = Path(__file__).resolve().parent
VENV = BENCH_DIR / ".venv-evidently"
EVIDENTLY_REQUIREMENTS = ["evidently>=0.7", "pandas<3"]
N_NUMERIC, N_CATEGORICAL = 20, 5
NUMERIC_SHIFTS = {0: 0.3, 1: 0.2, 2: 0.15, 3: 0.5, 4: 0.12, 5: 0.04, 6: 0.07}  # in ref stds
SCALE_CHANGES = {7: 1.4, 8: 1.05}
CATEGORICAL_DRIFT = {0: 0.25, 1: 0.1, 2: 0.02}  # share of mass moved to category 0
TOLERANCE = 1e-9
SPEEDUP_TARGET = 20.0
LARGE_TARGET_S = 60.0

DRIVER = r"""
import json, sys, time
import numpy as np, pandas as pd
from evidently import DataDefinition, Dataset, Report
from evidently.presets import DataDriftPreset

data = np.load(sys.argv[1], allow_pickle=False)
numeric, categorical = json.loads(sys.argv[2]), json.loads(sys.argv[3])
repeats = int(sys.argv[4])
frames = {}
for side in ("ref", "cur"):
    columns = {name: data[f"{side}_{name}"] for name in numeric + categorical}
    frames[side] = pd.DataFrame(columns)
definition = DataDefinition(numerical_columns=numeric, categorical_columns=categorical)
times = []
for _ in range(repeats):
    start = time.perf_counter()
    current = Dataset.from_pandas(frames["cur"], data_definition=definition)
    reference = Dataset.from_pandas(frames["ref"], data_definition=definition)
    snapshot = Report([DataDriftPreset()]).run(current, reference)
    times.append(time.perf_counter() - start)
columns = {}
for metric in snapshot.dict()["metrics"]:
    config = metric["config"]
    if config.get("type", "").endswith("ValueDrift"):
        columns[config["column"]] = {
            "method": config["method"], "threshold": config["threshold"], "value": metric["value"]
        }
print(json.dumps({"times": times, "columns": columns}))
"""


def make_windows(rows: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame, list[str], list[str]]:
    """Seeded reference and current frames; the knobs above say which columns drift."""
    rng = np.random.default_rng(seed)
    ref, cur = {}, {}
    for i in range(N_NUMERIC):
        draw = _numeric_draw(i)
        base = draw(rng, rows)
        std = float(np.std(base))
        ref[f"num_{i:02d}"] = base
        current = draw(rng, rows) * SCALE_CHANGES.get(i, 1.0)
        cur[f"num_{i:02d}"] = current + NUMERIC_SHIFTS.get(i, 0.0) * std
    for j in range(N_CATEGORICAL):
        k = 6 + 3 * j
        p = rng.dirichlet(np.ones(k) * 2)
        q = p * (1 - CATEGORICAL_DRIFT.get(j, 0.0))
        q[0] += CATEGORICAL_DRIFT.get(j, 0.0)
        labels = np.array([f"cat{j}_{v}" for v in range(k)])
        ref[f"cat_{j}"] = labels[rng.choice(k, rows, p=p)].astype(object)
        cur[f"cat_{j}"] = labels[rng.choice(k, rows, p=q)].astype(object)
    return pd.DataFrame(ref), pd.DataFrame(cur), [*ref][:N_NUMERIC], [*ref][N_NUMERIC:]


def _numeric_draw(i: int):  # type: ignore[no-untyped-def]
    kinds = [
        lambda rng, n: rng.normal(10, 3, n),
        lambda rng, n: rng.lognormal(3, 1, n),
        lambda rng, n: rng.exponential(2, n),
        lambda rng, n: rng.uniform(-1, 1, n),
        lambda rng, n: rng.gamma(2, 2, n),
    ]
    return kinds[i % len(kinds)]


def run_ailayer(ref: pd.DataFrame, cur: pd.DataFrame, repeats: int) -> dict:
    full, stored = [], []
    stored_reference = DataDriftDetector().fit(ref).reference_.to_bytes()
    for _ in range(repeats):
        start = time.perf_counter()
        report = DataDriftDetector().fit(ref).report(cur)
        full.append(time.perf_counter() - start)
        start = time.perf_counter()
        DataDriftDetector().fit(Profile.from_bytes(stored_reference)).report(cur)
        stored.append(time.perf_counter() - start)
    return {"full": full, "stored": stored, "report": report}


def scipy_differences(ref: pd.DataFrame, cur: pd.DataFrame, report) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """Largest |ours - scipy| per statistic, on the raw rows."""
    worst = {"wasserstein": 0.0, "ks": 0.0, "jensenshannon": 0.0, "chi2_p_value": 0.0}
    for feature in report.features:
        a, b = ref[feature.name].to_numpy(), cur[feature.name].to_numpy()
        found = feature.statistics
        if feature.kind == "numeric":
            expected = stats.wasserstein_distance(a, b) / max(np.std(a), 0.001)
            _worst(worst, "wasserstein", found["wasserstein"], expected)
            _worst(worst, "ks", found["ks"], stats.ks_2samp(a, b).statistic)
            continue
        keys = sorted(set(a) | set(b))
        ca = pd.Series(a).value_counts().reindex(keys, fill_value=0).to_numpy()
        cb = pd.Series(b).value_counts().reindex(keys, fill_value=0).to_numpy()
        _worst(worst, "jensenshannon", found["jensenshannon"], distance.jensenshannon(ca, cb))
        pvalue = stats.chi2_contingency(np.vstack([ca, cb]), correction=False).pvalue
        _worst(worst, "chi2_p_value", found["chi2_p_value"], pvalue)
    return worst


def _worst(worst: dict[str, float], name: str, found: float, expected: float) -> None:
    worst[name] = max(worst[name], abs(found - expected))


def evidently_python() -> Path:
    return ensure_venv(VENV, EVIDENTLY_REQUIREMENTS, lambda python: imports(python, "evidently"))


def run_evidently(
    ref: pd.DataFrame, cur: pd.DataFrame, numeric: list[str], categorical: list[str], repeats: int
) -> dict:
    python = evidently_python()
    with tempfile.TemporaryDirectory(prefix="drift-bench-") as tmp:
        arrays = {f"ref_{c}": _plain(ref[c]) for c in ref} | {
            f"cur_{c}": _plain(cur[c]) for c in cur
        }
        np.savez(Path(tmp) / "data.npz", **arrays)
        (Path(tmp) / "driver.py").write_text(DRIVER)
        args = [json.dumps(numeric), json.dumps(categorical), str(repeats)]
        done = subprocess.run(
            [str(python), str(Path(tmp) / "driver.py"), str(Path(tmp) / "data.npz"), *args],
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONWARNINGS": "ignore"},
        )
    if done.returncode:
        raise SystemExit(f"Evidently failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _plain(column: pd.Series) -> np.ndarray:
    if pd.api.types.is_numeric_dtype(column.dtype):
        return column.to_numpy()
    return column.to_numpy().astype(str)


def decisions_agree(report, evidently: dict) -> tuple[int, list[str]]:  # type: ignore[no-untyped-def]
    """Columns where Evidently's default decision equals ailayer's, and the others."""
    differ = []
    for feature in report.features:
        theirs = evidently["columns"][feature.name]
        p_value = "p_value" in theirs["method"].lower() or "test" in theirs["method"].lower()
        drifted = (
            theirs["value"] < theirs["threshold"]
            if p_value
            else theirs["value"] >= theirs["threshold"]
        )
        if drifted != feature.drifted or abs(theirs["value"] - feature.statistic) > 1e-6:
            differ.append(feature.name)
    return len(report.features) - len(differ), differ


def large_report(rows: int, columns: int, chunk: int, seed: int) -> dict:
    """A rows x columns report from a stored reference profile; the window comes in chunks."""
    n_categorical = columns // 10
    n_numeric = columns - n_categorical
    rng = np.random.default_rng(seed)
    keep = 3  # numeric columns kept raw to measure the sketch against SciPy
    raw: dict[str, list[np.ndarray]] = {}

    def chunks(shift: float):  # type: ignore[no-untyped-def]
        for _ in range(0, rows, chunk):
            frame = {f"n{i}": rng.normal(shift * (i % 4 == 0), 1, chunk) for i in range(n_numeric)}
            for j in range(n_categorical):
                frame[f"c{j}"] = pd.Categorical.from_codes(rng.integers(0, 12, chunk), _LEVELS)
            yield frame

    reference = None
    for frame in chunks(0.0):
        for i in range(keep):
            raw.setdefault(f"ref_n{i}", []).append(frame[f"n{i}"])
        part = profile(frame, reference=reference)
        reference = part if reference is None else reference.merge(part)
    stored = reference.to_bytes()  # type: ignore[union-attr]
    elapsed, current, start = 0.0, None, time.perf_counter()
    loaded = Profile.from_bytes(stored)
    elapsed += time.perf_counter() - start
    for frame in chunks(0.2):
        for i in range(keep):
            raw.setdefault(f"cur_n{i}", []).append(frame[f"n{i}"])
        start = time.perf_counter()
        part = profile(frame, reference=loaded)
        current = part if current is None else current.merge(part)
        elapsed += time.perf_counter() - start
    start = time.perf_counter()
    report = compare(loaded, current)  # type: ignore[arg-type]
    elapsed += time.perf_counter() - start
    errors = []
    for i in range(keep):
        a, b = np.concatenate(raw[f"ref_n{i}"]), np.concatenate(raw[f"cur_n{i}"])
        expected = stats.wasserstein_distance(a, b) / np.std(a)
        errors.append(abs(report[f"n{i}"].statistic - expected))
    return {
        "seconds": elapsed,
        "stored_reference_mb": len(stored) / 1e6,
        "drifted": len(report.drifted_features),
        "expected_drifted": sum(1 for i in range(n_numeric) if i % 4 == 0),
        "sketch_error": max(errors),
        "exact": all(f.exact for f in report.features),
    }


_LEVELS = [f"level_{k}" for k in range(12)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-evidently", action="store_true")
    parser.add_argument("--skip-large", action="store_true")
    parser.add_argument("--large-rows", type=int, default=1_000_000)
    parser.add_argument("--large-columns", type=int, default=100)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    ref, cur, numeric, categorical = make_windows(args.rows, args.seed)
    ours = run_ailayer(ref, cur, args.repeats)
    report = ours["report"]
    results: dict = {
        "rows": args.rows,
        "features": f"{len(numeric)} numeric + {len(categorical)} categorical",
        "machine": machine(),
        "ailayer_full_s": statistics.median(ours["full"]),
        "ailayer_stored_reference_s": statistics.median(ours["stored"]),
        "drifted": report.drifted_features,
        "scipy_max_abs_diff": scipy_differences(ref, cur, report),
    }
    if not args.skip_evidently:
        theirs = run_evidently(ref, cur, numeric, categorical, args.repeats)
        agree, differ = decisions_agree(report, theirs)
        results |= {
            "evidently_s": statistics.median(theirs["times"]),
            "same_decisions": f"{agree}/{len(report.features)}",
            "different_decisions": differ,
        }
    if not args.skip_large:
        large = [large_report(args.large_rows, args.large_columns, 250_000, args.seed + 1)]
        results["large"] = large[0] | {"columns": args.large_columns, "rows": args.large_rows}
    print(_table(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))
    return 0 if _targets(results) else 1


def _table(r: dict) -> str:
    lines = [
        f"drift report, {r['rows']:,} reference + {r['rows']:,} current rows x {r['features']}",
        f"({r['machine']}; median of repeats)",
        "",
        "| run | seconds | time / ailayer full |",
        "|---|---:|---:|",
        f"| ailayer, from raw reference and current | {r['ailayer_full_s']:.3f} | 1.00 |",
        f"| ailayer, from a stored reference profile | {r['ailayer_stored_reference_s']:.3f} | "
        f"{r['ailayer_stored_reference_s'] / r['ailayer_full_s']:.2f} |",
    ]
    if "evidently_s" in r:
        lines.append(
            f"| Evidently DataDriftPreset | {r['evidently_s']:.3f} | "
            f"{r['evidently_s'] / r['ailayer_full_s']:.1f} |"
        )
    if "large" in r:
        big = r["large"]
        lines.append(
            f"| ailayer, {big['rows']:,} x {big['columns']} from a stored reference "
            f"({big['stored_reference_mb']:.1f} MB) | {big['seconds']:.2f} | - |"
        )
    lines += ["", *[f"- {line}" for line in _checks(r)]]
    return "\n".join(lines)


def _checks(r: dict) -> list[str]:
    worst = max(r["scipy_max_abs_diff"].values())
    checks = [
        f"drifted: {', '.join(r['drifted'])}",
        f"max |ailayer - scipy| on raw rows: {worst:.2e} "
        f"({'MET' if worst <= TOLERANCE else 'NOT MET'}, target <= 1e-9)",
    ]
    if "evidently_s" in r:
        speedup = r["evidently_s"] / r["ailayer_full_s"]
        checks += [
            f"same drift decisions and statistics (1e-6) as Evidently: {r['same_decisions']}"
            f" {r['different_decisions'] or ''} "
            f"({'MET' if not r['different_decisions'] else 'NOT MET'})",
            f"speed-up over Evidently: {speedup:.1f}x "
            f"({'MET' if speedup >= SPEEDUP_TARGET else 'NOT MET'}, target >= {SPEEDUP_TARGET:.0f}x)",
        ]
    if "large" in r:
        big = r["large"]
        checks += [
            f"{big['rows']:,} x {big['columns']} from a stored reference: {big['seconds']:.1f} s "
            f"({'MET' if big['seconds'] < LARGE_TARGET_S else 'NOT MET'}, target < 60 s); "
            f"drifted {big['drifted']} of the {big['expected_drifted']} shifted columns; "
            f"sketch |W - scipy| <= {big['sketch_error']:.1e}",
        ]
    return checks


def _targets(r: dict) -> bool:
    ok = max(r["scipy_max_abs_diff"].values()) <= TOLERANCE
    if "evidently_s" in r:
        ok &= (
            not r["different_decisions"]
            and r["evidently_s"] / r["ailayer_full_s"] >= SPEEDUP_TARGET
        )
    if "large" in r:
        ok &= r["large"]["seconds"] < LARGE_TARGET_S
    return bool(ok)


if __name__ == "__main__":
    sys.exit(main())
