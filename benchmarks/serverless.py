"""Cold and warm starts of the Lambda handler, on this machine.

Each run is a fresh Python process (what a new Lambda container is): the clock starts
before ``import ailayer.serverless.aws_lambda`` and stops when the first prediction's
answer is back (the import, settings, services, the app, the endpoint lookup and the
model's first load), then 200 warm invocations of one record are timed one by one. The
home is the demo's (``ailayer up --no-serve``): SQLite and local files, where Lambda would
use PostgreSQL and S3, whose round trips this does not count.

    python benchmarks/serverless.py              # 5 cold starts, about 30 s
    python benchmarks/serverless.py --runs 10 --json /tmp/serverless.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import DEMO_ENDPOINT, ailayer_env, cpu_busy, setup_ailayer_home

RUN = r"""
import base64, json, sys, time
started = time.perf_counter()
from ailayer.serverless.aws_lambda import APP, handler
imported = time.perf_counter()
key, endpoint, record = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])

def event():
    body = base64.b64encode(json.dumps(record).encode()).decode()
    return {
        "version": "2.0", "routeKey": "$default", "rawPath": f"/v1/predict/{endpoint}",
        "rawQueryString": "", "isBase64Encoded": True, "body": body,
        "headers": {"authorization": f"Bearer {key}", "content-type": "application/json"},
        "requestContext": {"http": {"method": "POST", "path": f"/v1/predict/{endpoint}",
                                    "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1"}},
    }

first = handler(event(), None)
answered = time.perf_counter()
assert first["statusCode"] == 200, first
warm = []
for _ in range(200):
    t = time.perf_counter()
    assert handler(event(), None)["statusCode"] == 200
    warm.append(time.perf_counter() - t)
warm.sort()
print(json.dumps({
    "import_s": imported - started, "first_answer_s": answered - started,
    "build_s": APP.cold_start_seconds,
    "warm_p50_ms": warm[len(warm) // 2] * 1e3, "warm_p99_ms": warm[int(len(warm) * 0.99)] * 1e3,
}))
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="fresh processes (cold starts)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    busy = cpu_busy()
    from ailayer.cli.up import DEMO_EXAMPLE

    with tempfile.TemporaryDirectory(prefix="ailayer-bench-serverless-") as folder:
        work = Path(folder)
        print("setting up an ailayer home (ailayer up --no-serve) ...", flush=True)
        home, key = setup_ailayer_home(work)
        env = ailayer_env(home) | {"AILAYER_LOG_PROCESS": "false"}
        runs = []
        for index in range(args.runs):
            out = subprocess.run(
                [sys.executable, "-c", RUN, key, DEMO_ENDPOINT, json.dumps(DEMO_EXAMPLE)],
                env=env,
                cwd=work,
                capture_output=True,
                text=True,
                check=True,
            )
            runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(f"  run {index + 1}: {runs[-1]['first_answer_s']:.2f} s to the first answer")
    print(
        f"CPU {busy:.0%} busy before the start; load average {os.getloadavg()[0]:.1f}; "
        f"medians of {len(runs)} cold starts"
    )
    print("| import s | build s | first answer s (cold start) | warm p50 ms | warm p99 ms |")
    print("|---:|---:|---:|---:|---:|")
    med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    print(
        f"| {med['import_s']:.2f} | {med['build_s']:.2f} | {med['first_answer_s']:.2f} "
        f"| {med['warm_p50_ms']:.2f} | {med['warm_p99_ms']:.2f} |"
    )
    if args.json:
        args.json.write_text(json.dumps({"cpu_busy_before": busy, "runs": runs}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
