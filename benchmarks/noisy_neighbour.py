"""Noisy neighbour: does a tenant sending 10x its request rate raise another tenant's p99?

One ``ailayer serve`` process, two tenants on it (``quiet`` and ``noisy``), each with its
own service key and its own model ``fraud`` (the demo pipeline fitted on a sample of its
own; ``serving.register_tenants``). Every tenant's request rate is ``--rate`` a second
(``limits.rate_per_second``, buckets in the server process). Open-loop load from the
shared harness (``run_python_load`` with a rate: latency counted from each request's
scheduled send time):

- alone: ``quiet`` at half its rate, nothing else;
- noisy: the same, while ``noisy`` sends ten times its rate at once; the limiter answers
  what is over its rate with 429 (counted as the noisy tenant's refusals).

Both tenants' generators run on this machine, but they stand for different things: the
quiet tenant's measures what a client sees, so it is the harness's Python generator, above
the server (niceness -5, as every generator of the harness: a generator kept waiting for a
core adds lag to every request); the neighbour's stands for clients on other machines,
whose work would cost the server nothing, so by default it is ``wrk`` (a C program: a few
percent of a core for 1,000 requests a second), each connection pausing a random 0 to 2x
its share between requests. ``--noise-generator python`` sends it from the Python
generator instead, below the server (``--noise-niceness``, 10): that one takes most of a
core at 1,000/s, from the two the server has, and its CPU shows in the quiet tenant's p99
as much as the server's work does.

Each round runs both, in turns (the order rotated), ``--rounds`` times; the table shows
medians. ``--control`` adds the same pair of runs with the neighbour's requests sent to a
second server process instead (as limited): the measured server never sees them, so the
quiet tenant's p99 there is what the noise costs through the machine alone (the
neighbour's generator and the loopback on the same two cores), the least any server could
do. Target: quiet's p99 with the neighbour at most 20% over its p99 alone. The same
two runs on a server without limits (``--skip-unlimited`` leaves them out) show what the
limit buys.

Run from the repository root:

    python benchmarks/noisy_neighbour.py                 # ~2 minutes
    python benchmarks/noisy_neighbour.py --quick         # ~30 s: 1 round of 3 s
    python benchmarks/noisy_neighbour.py --against DIR   # this checkout and DIR, in turns

It prints a Markdown table and the target as MET / NOT MET, and exits 1 when it is not
met. Every process it starts is stopped and its temporary directory removed.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from harness import (
    DEMO_ENDPOINT,
    HOST,
    LoadRun,
    Server,
    ailayer_argv,
    ailayer_env,
    cpu_busy,
    free_port,
    load_average,
    machine,
    median,
    run_python_load,
    run_wrk,
    start,
    stop,
    wait_ready,
)
from serving import STARTUP_TIMEOUT_S, register_tenants

TARGET_RATIO = 1.2  # quiet's p99 with the neighbour / alone
CONNECTIONS = 16
NOISE_CONNECTIONS = 32
NOISE_NICENESS = 10  # the neighbour's generator: below the server (see the module docstring)


@dataclass
class Runs:
    """One server's runs: quiet's load alone, quiet's with the neighbour, the neighbour's."""

    alone: list[LoadRun] = field(default_factory=list)
    noisy: list[LoadRun] = field(default_factory=list)
    neighbour: list[LoadRun] = field(default_factory=list)

    def p99(self, runs: list[LoadRun]) -> float:
        return median([run.p99_ms for run in runs])


def body() -> bytes:
    from ailayer.cli.up import DEMO_EXAMPLE
    from ailayer.simulate import FRAUD_FEATURES

    return json.dumps({name: float(DEMO_EXAMPLE[name]) for name in FRAUD_FEATURES}).encode()


def server_for(home: Path, work: Path, name: str, key: str, limits: dict | None) -> Server:
    port = free_port()
    env = ailayer_env(home)
    if limits is not None:
        env |= {"AILAYER_LIMITS": json.dumps(limits)}
    return Server(
        name=name,
        argv=ailayer_argv("serve", "--host", HOST, "--port", str(port)),
        port=port,
        env=env,
        cwd=work,
        log=work / f"{name}.log",
        path=f"/v1/predict/{DEMO_ENDPOINT}",
        headers={"Authorization": f"Bearer {key}"},
        body=body(),
    )


def as_tenant(server: Server, key: str) -> Server:
    """The same server, asked by another tenant's key."""
    return dataclasses.replace(server, headers={"Authorization": f"Bearer {key}"})


def measure(
    server: Server,
    noisy_key: str,
    args: argparse.Namespace,
    runs: Runs,
    order: int,
    noise_at: Server | None = None,
) -> None:
    """One round of the quiet tenant alone and with the neighbour (sent to ``noise_at``
    instead of ``server`` when given: the control, where ``server`` never sees it)."""
    quiet_rate = args.rate / 2
    phases = ["alone", "noisy"] if order % 2 == 0 else ["noisy", "alone"]
    for phase in phases:
        if phase == "alone":
            runs.alone.append(run_python_load(server, args.duration, CONNECTIONS, quiet_rate))
            continue
        neighbour = as_tenant(noise_at or server, noisy_key)
        with ThreadPoolExecutor(2) as pool:
            noise = pool.submit(send_noise, neighbour, args)
            quiet = pool.submit(run_python_load, server, args.duration, CONNECTIONS, quiet_rate)
            runs.noisy.append(quiet.result())
            runs.neighbour.append(noise.result())


def send_noise(neighbour: Server, args: argparse.Namespace) -> LoadRun:
    """The neighbour's ten times its rate: from ``wrk``, each connection pausing between
    requests so that together they send about that many a second; or from the Python
    generator, as an open loop at that rate."""
    rate = args.rate * args.multiple
    if args.noise_generator == "python":
        return run_python_load(
            neighbour, args.duration, NOISE_CONNECTIONS, rate, niceness=args.noise_niceness
        )
    think_ms = max(1, round(NOISE_CONNECTIONS * 1000 / rate))
    return run_wrk(neighbour, NOISE_CONNECTIONS, args.duration, args.work, think_ms=think_ms)


def run_server(
    home: Path,
    work: Path,
    keys: list[str],
    args: argparse.Namespace,
    limits: dict | None,
    control: bool = False,
) -> Runs:
    """The runs against one server; with ``control``, the neighbour's requests go to a
    second server process of their own (as limited), so the first never sees them."""
    name = "limited" if limits is not None else "unlimited"
    name += ", noise elsewhere" if control else ""
    server = server_for(home, work, name.split(",")[0], keys[0], limits)
    other = None
    if control:  # a home of its own: two servers never share a prediction log
        elsewhere = work / "home-elsewhere"
        shutil.rmtree(elsewhere, ignore_errors=True)
        shutil.copytree(home, elsewhere)
        other = server_for(elsewhere, work, "elsewhere", keys[0], limits)
    runs = Runs()
    try:
        for each in (server, other):
            if each is not None:
                start(each)
                wait_ready(each, STARTUP_TIMEOUT_S)
        run_python_load(server, 1.0, CONNECTIONS, args.rate / 2)  # warm-up, uncounted
        for round_ in range(args.rounds):
            print(f"{name}: round {round_ + 1} of {args.rounds} ...", flush=True)
            measure(server, keys[1], args, runs, round_, noise_at=other)
    finally:
        for each in (server, other):
            if each is not None:
                stop(each)
    return runs


def run_against(
    home: Path, work: Path, keys: list[str], args: argparse.Namespace, limits: dict
) -> dict[str, Runs]:
    """This checkout's limited server and ``args.against``'s, on copies of one home, their
    rounds in turns (the order alternating): the same machine's noise for both."""
    servers = {}
    for label, source in (("limited", None), (f"limited, {args.against.name}", args.against)):
        own = work / f"home-{len(servers)}"
        shutil.rmtree(own, ignore_errors=True)
        shutil.copytree(home, own)
        server = server_for(own, work, f"s{len(servers)}", keys[0], limits)
        if source is not None:
            server.env["PYTHONPATH"] = str(source.resolve() / "src")
        servers[label] = server
    results = {label: Runs() for label in servers}
    try:
        for server in servers.values():
            start(server)
            wait_ready(server, STARTUP_TIMEOUT_S)
            run_python_load(server, 1.0, CONNECTIONS, args.rate / 2)  # warm-up, uncounted
        for round_ in range(args.rounds):
            order = list(servers.items())
            for label, server in order[::-1] if round_ % 2 else order:
                print(f"{label}: round {round_ + 1} of {args.rounds} ...", flush=True)
                measure(server, keys[1], args, results[label], round_)
    finally:
        for server in servers.values():
            stop(server)
    return results


def print_table(results: dict[str, Runs], args: argparse.Namespace) -> None:
    print()
    noise = args.rate * args.multiple
    print(f"quiet tenant at {args.rate / 2:g} requests/s; noisy tenant at {noise:g}/s")
    print(
        f"({args.multiple:g}x its {args.rate:g}/s rate); {args.rounds} round(s) of {args.duration:g} s\n"
    )
    print(
        "| server | quiet p99 alone (ms) | quiet p99 with noise (ms) | ratio | quiet errors "
        "| noisy answered/s | noisy refused/s | quiet generator's lag p99 alone / with noise (ms) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name, runs in results.items():
        alone, noisy = runs.p99(runs.alone), runs.p99(runs.noisy)
        errors = sum(run.errors for run in runs.noisy + runs.alone)
        seconds = sum(run.seconds for run in runs.neighbour) or 1.0
        refused = sum(run.errors for run in runs.neighbour)
        answered = sum(run.requests for run in runs.neighbour) - refused
        print(
            f"| {name} | {alone:.2f} | {noisy:.2f} | {noisy / alone:.2f}x | {errors} "
            f"| {answered / seconds:.0f} | {refused / seconds:.0f} "
            f"| {median([r.lag_p99_ms for r in runs.alone]):.2f} / "
            f"{median([r.lag_p99_ms for r in runs.noisy]):.2f} |"
        )


def target_met(runs: Runs) -> bool:
    ratio = runs.p99(runs.noisy) / runs.p99(runs.alone)
    met = ratio <= TARGET_RATIO
    verdict = "MET" if met else "NOT MET"
    print(
        f"\ntarget: quiet p99 with a 10x neighbour <= {TARGET_RATIO:.1f}x alone: "
        f"{ratio:.2f}x {verdict}"
    )
    return met


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rate", type=float, default=100.0, help="each tenant's requests/s")
    parser.add_argument(
        "--multiple", type=float, default=10.0, help="the neighbour's rate over its limit"
    )
    parser.add_argument("--duration", type=float, default=10.0, help="seconds a run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="1 round of 3 s")
    parser.add_argument(
        "--burst",
        type=float,
        help="each tenant's bucket size (default: a second of its rate)",
    )
    parser.add_argument("--skip-unlimited", action="store_true")
    parser.add_argument(
        "--against",
        type=Path,
        help="another checkout: its limited server measured in turns with this one's "
        "(instead of the unlimited and control runs)",
    )
    parser.add_argument(
        "--control",
        action="store_true",
        help="also the control: the neighbour's requests sent to a second server process, "
        "so what is left of the harm is the machine's (its generator, the loopback), not "
        "the measured server's",
    )
    parser.add_argument(
        "--noise-generator",
        choices=["wrk", "python"],
        default="wrk",
        help="what sends the neighbour's requests: wrk (a C program: a few percent of a "
        "core, as clients on other machines would cost this one) or the Python generator "
        "(most of a core at 1,000/s, taken from the two the server has)",
    )
    parser.add_argument(
        "--noise-niceness",
        type=int,
        default=NOISE_NICENESS,
        help="the Python neighbour's niceness (-5: as high as the quiet tenant's)",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.duration = 1, 3.0
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    busy = cpu_busy()
    print(machine())
    shown = "unknown" if busy is None else f"{busy:.0%}"
    print(f"CPU busy before the run: {shown}; load average {load_average():.2f}")
    work = args.work = Path(tempfile.mkdtemp(prefix="ailayer-bench-noisy-"))
    try:
        print("registering two tenants with a model each ...", flush=True)
        keys = register_tenants(work / "home", 2)
        burst = args.rate if args.burst is None else args.burst
        limits = {"rate_per_second": args.rate, "burst": burst}
        if args.against is not None:
            results = run_against(work / "home", work, keys, args, limits)
        else:
            results = {"limited": run_server(work / "home", work, keys, args, limits)}
        if not args.skip_unlimited and args.against is None:
            results["unlimited"] = run_server(work / "home", work, keys, args, None)
        if args.control and args.against is None:
            results["limited, noise elsewhere"] = run_server(
                work / "home", work, keys, args, limits, control=True
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print_table(results, args)
    print(f"load average over the runs: {load_average():.2f}")
    return 0 if target_met(results["limited"]) else 1


if __name__ == "__main__":
    sys.exit(main())
