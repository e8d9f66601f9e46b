"""What does int8 quantization buy a network, and what does it cost?

For scikit-learn MLPs of growing width (a StandardScaler + MLPClassifier pipeline trained
on a simulated task with a known rule), the deltas ``ailayer models quantize`` records:
graph size float32 vs int8, one-row p50/p99 and per-row time in a 1,000-row batch (the
form that serves the version now, its float64 ONNX, against the int8 graph, the two
taking turns call by call), agreement on the signature's validation sample and accuracy
on a 5,000-row holdout. Everything runs in this process through the same code the API
calls (``models/compile/quantize.py``), on the same machine, in one run.

    python benchmarks/quantize.py                 # about a minute
    python benchmarks/quantize.py --widths 64 256 --json /tmp/quantize.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import cpu_busy

from ailayer.models.compile import compile_model
from ailayer.models.compile.quantize import quantize
from ailayer.models.flavors import get_flavor
from ailayer.models.signature import Signature

FEATURES = 16
TRAIN_ROWS, HOLDOUT_ROWS = 20_000, 5_000


def task(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Inputs and labels of a non-linear rule, with 5 % label noise."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(TRAIN_ROWS + HOLDOUT_ROWS, FEATURES))
    y = (x[:, 0] * x[:, 1] + np.sin(x[:, 2]) + 0.5 * x[:, 3] > 0).astype(int)
    flip = rng.random(len(y)) < 0.05
    return x, np.where(flip, 1 - y, y)


def measure(width: int, x: np.ndarray, y: np.ndarray) -> dict:
    import skops.io as sio
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    started = time.perf_counter()
    mlp = MLPClassifier((width, width), max_iter=60, random_state=0, early_stopping=True)
    model = make_pipeline(StandardScaler(), mlp).fit(x[:TRAIN_ROWS], y[:TRAIN_ROWS])
    trained = time.perf_counter() - started
    artifact = sio.dumps(model)
    signature = Signature.parse(
        {"inputs": [{"name": f"x{i}", "type": "double"} for i in range(FEATURES)]}
    )
    compiled = compile_model("sklearn", artifact, signature)
    if compiled.onnx is None:
        raise SystemExit(f"the float64 form did not compile: {compiled.record}")
    served = get_flavor("onnx").load(compiled.onnx)
    holdout = (x[TRAIN_ROWS:], list(y[TRAIN_ROWS:]))
    result = quantize("sklearn", artifact, signature, served, holdout)
    return {"width": width, "train_seconds": round(trained, 1), **result.deltas}


def print_table(rows: list[dict]) -> None:
    print(
        "| hidden layers | float32 KB | int8 KB | size | one-row p50 ms served / int8 "
        "| p99 ms served / int8 | batch µs/row served / int8 | batch | agreement "
        "| accuracy served / int8 |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| 2 x {r['width']} | {r['float32_bytes'] / 1024:,.0f} "
            f"| {r['quantized_bytes'] / 1024:,.0f} | {r['size_ratio']:.2f}x "
            f"| {r['original_p50_ms']:.3f} / {r['quantized_p50_ms']:.3f} "
            f"| {r['original_p99_ms']:.3f} / {r['quantized_p99_ms']:.3f} "
            f"| {r['original_batch_us_per_row']:.2f} / {r['quantized_batch_us_per_row']:.2f} "
            f"| {r['batch_ratio']:.2f}x | {r['agreement']:.4f} "
            f"| {r['original_accuracy']:.4f} / {r['quantized_accuracy']:.4f} |"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--widths", type=int, nargs="+", default=[32, 128, 512])
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    busy = cpu_busy()
    print(f"CPU {busy:.0%} busy before the start; load average {os.getloadavg()[0]:.1f}")
    x, y = task()
    rows = []
    for width in args.widths:
        rows.append(measure(width, x, y))
        print(f"  2 x {width}: done (load {os.getloadavg()[0]:.1f})", flush=True)
    print_table(rows)
    if args.json:
        args.json.write_text(json.dumps({"cpu_busy_before": busy, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
