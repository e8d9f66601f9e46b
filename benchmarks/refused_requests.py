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

``--http`` measures the same over real connections instead: ``ailayer serve`` with the
tenant limited to 1 request/s, ``wrk`` (8 connections, ``--seconds`` a round) sending
its predict requests, and the server process's CPU time (its HTTP parsing and the
kernel's work for its sockets included) per answered request; ``--against DIR`` runs
another checkout's server (its ``src``) in turns with this one's, the order swapped each
round (about a minute):

    python benchmarks/refused_requests.py --http --rounds 4 --against DIR
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


def over_http(args: argparse.Namespace) -> None:
    """Server CPU per refused request over real connections, per checkout, in turns."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from harness import run_wrk, server_cpu_seconds, start, stop, wait_ready
    from noisy_neighbour import server_for
    from serving import STARTUP_TIMEOUT_S, register_tenants

    with tempfile.TemporaryDirectory(prefix="ailayer-refused-") as scratch:
        work = Path(scratch)
        [key] = register_tenants(work / "home", 1)
        sources = {"this checkout": None}
        if args.against is not None:
            sources[f"against {args.against}"] = args.against.resolve() / "src"
        servers = {}
        for label, source in sources.items():
            server = server_for(work / "home", work, f"s{len(servers)}", key, HTTP_LIMITS)
            if source is not None:
                server.env["PYTHONPATH"] = str(source)
            servers[label] = server
        results: dict[str, list[float]] = {label: [] for label in servers}
        try:
            for server in servers.values():
                start(server)
                wait_ready(server, STARTUP_TIMEOUT_S)
                run_wrk(server, HTTP_CONNECTIONS, 2, work)  # warm-up: known, then refused
            for round_ in range(args.rounds):
                order = list(servers.items())
                for label, server in order[::-1] if round_ % 2 else order:
                    before = server_cpu_seconds(server)
                    run = run_wrk(server, HTTP_CONNECTIONS, args.seconds, work)
                    micros = (server_cpu_seconds(server) - before) / run.requests * 1e6
                    refused = run.errors / max(run.requests, 1)  # wrk counts non-2xx
                    results[label].append(micros)
                    print(
                        f"round {round_ + 1}, {label}: {micros:.1f} µs CPU per request, "
                        f"{run.requests / run.seconds:,.0f} requests/s, {refused:.1%} refused",
                        flush=True,
                    )
        finally:
            for server in servers.values():
                stop(server)
    for label, micros in results.items():
        print(
            f"{label}: median {statistics.median(micros):.1f} µs of server CPU per refused "
            f"request over HTTP (rounds: {', '.join(f'{m:.1f}' for m in micros)})"
        )


HTTP_LIMITS = {"rate_per_second": 1, "burst": 1}
HTTP_CONNECTIONS = 8


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--http", action="store_true", help="over real connections (wrk)")
    parser.add_argument("--seconds", type=float, default=5.0, help="--http: a round's length")
    parser.add_argument("--against", type=Path, help="--http: another checkout, in turns")
    args = parser.parse_args()
    if args.http:
        over_http(args)
        return
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
