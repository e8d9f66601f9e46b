"""What does the server spend on a request it refuses for the tenant's rate (429)?

The noisy-neighbour benchmark (``noisy_neighbour.py``) needs every core of the machine;
this one measures the cost that decides it — the CPU time of one refused predict request
— in one process, without sockets: the whole ASGI app (tracing, metrics, the body limit,
the fast path) is called directly with ``POST /v1/predict/fraud`` from a tenant whose
rate (0.001 requests/s, burst 1) is used up, and ``time.process_time`` is read around
``--requests`` such calls. An admitted request costs far more (a model runs), so this is
the part a limited tenant can still make the server spend per request.

Run from the repository root (a few seconds):

    python benchmarks/refused_requests.py
    python benchmarks/refused_requests.py --requests 50000 --rounds 5
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from ailayer.api.app import create_app
from ailayer.bootstrap import build
from ailayer.core.settings import load_settings

BODY = b'{"inputs": {"customer_id": 42, "amount": 120.5}}'


def scope_of(key: str) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/predict/fraud",
        "raw_path": b"/v1/predict/fraud",
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"host", b"127.0.0.1"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(BODY)).encode()),
            (b"authorization", f"Bearer {key}".encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }


async def refuse(app: Any, key: str, requests: int) -> tuple[float, dict[int, int]]:
    """CPU seconds per request over ``requests`` calls, and the statuses answered."""
    statuses: dict[int, int] = {}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": BODY, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses[message["status"]] = statuses.get(message["status"], 0) + 1

    await app(scope_of(key), receive, send)  # the one request the burst admits
    statuses.clear()
    started = time.process_time()
    for _ in range(requests):
        await app(scope_of(key), receive, send)
    return (time.process_time() - started) / requests, statuses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        settings = load_settings(home=Path(home), limits={"rate_per_second": 0.001, "burst": 1})
        services = build(settings)
        try:
            tenant = services.keys.create_tenant("noisy")
            key = services.keys.create_key(tenant, "svc", "service").key
            app = create_app(services)
            per_round = []
            for _ in range(args.rounds):
                seconds, statuses = asyncio.run(refuse(app, key, args.requests))
                if set(statuses) != {429}:
                    raise SystemExit(f"expected only 429 answers, got {statuses}")
                per_round.append(seconds)
        finally:
            services.close()
    micros = [s * 1e6 for s in per_round]
    print(
        f"CPU time per refused request: median {statistics.median(micros):.1f} µs "
        f"(rounds: {', '.join(f'{m:.1f}' for m in micros)}; {args.requests} requests each)"
    )


if __name__ == "__main__":
    main()
