"""Where an endpoint should run, from its real traffic: dedicated replicas, autoscaled
replicas, spot-backed workers or a serverless function, each priced for a month.

Arrays and prices in, an ``Advice`` out; no I/O (``cost.traffic`` reads the log).

- **Right-sizing.** A replica's CPU comes from the measured CPU seconds per prediction:
  at the busiest minute the endpoint needs ``peak predictions/s x CPU per prediction /
  utilisation`` vCPUs; a replica is the smallest of ``REPLICA_CPUS`` of which two carry
  that (the largest if none does), with memory for the models it holds plus the process.
- **Dedicated**: enough replicas for the busiest minute (at least ``min_replicas``),
  always on. Latency as measured.
- **Autoscaled**: each minute as many replicas as that minute needs (at least
  ``min_replicas``), kept ``scale_down_minutes`` after the need falls, as the
  HorizontalPodAutoscaler does. A minute that needs more replicas than the minute before
  had waits for new pods (``scale_up_minutes``): if more than 1% of requests arrive in
  such minutes, the p99 is at risk.
- **Spot**: the autoscaled replica-minutes with one replica on demand and the rest on
  spot prices. A reclaim takes the spot replicas away with a short notice, so it meets
  the latency target only if one on-demand replica carries the mean load.
- **Serverless**: every request an invocation billed for its p50 latency at the
  replica's memory. A request that arrives after ``keep_warm_minutes`` of silence starts
  a cold container (``cold_start_seconds``, measured in docs/benchmarks.md): if more
  than 1% of requests do, the p99 becomes the cold start.

The recommendation is the cheapest option whose projected p99 meets the target.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ailayer.core.errors import InvalidInput

REPLICA_CPUS = (0.25, 0.5, 1.0, 2.0, 4.0)
GIB = float(1 << 30)
HOURS_PER_MONTH = 730.0
DAYS_PER_MONTH = HOURS_PER_MONTH / 24
PROCESS_BYTES = 512 * (1 << 20)  # a serving process without models (measured RSS ~400 MiB)
COLD_START_SECONDS = 4.14  # docs/benchmarks.md, serverless: import + first answer, median
RISKY_SHARE = 0.01  # above 1% of requests, a slow path sets the p99


@dataclass(frozen=True, slots=True)
class Assumptions:
    p99_target_ms: float = 250.0
    utilisation: float = 0.6
    min_replicas: int = 2
    scale_up_minutes: int = 1
    scale_down_minutes: int = 5
    keep_warm_minutes: int = 10
    cold_start_seconds: float = COLD_START_SECONDS


DEFAULT_ASSUMPTIONS = Assumptions()


@dataclass(frozen=True, slots=True)
class Sizing:
    cpu_per_prediction_ms: float
    cpu_measured: bool  # False: the p50 latency stands in (no CPU measured yet)
    peak_vcpus: float
    replica_cpu: float
    replica_memory_gib: float
    peak_replicas: int


@dataclass(frozen=True, slots=True)
class Option:
    name: str
    monthly_cost: float
    p99_ms: float | None
    meets_target: bool
    detail: str
    risk: str


@dataclass(frozen=True, slots=True)
class Advice:
    shape: dict[str, float | int | None]
    sizing: Sizing
    options: list[Option] = field(default_factory=list)
    recommended: str = ""
    reason: str = ""


def advise(
    requests: np.ndarray,
    predictions: np.ndarray,
    p50_ms: float | None,
    p99_ms: float | None,
    cpu_per_prediction: float | None,
    model_bytes: float,
    prices: dict[str, float],
    assume: Assumptions = DEFAULT_ASSUMPTIONS,
) -> Advice:
    """Compare the four ways to run an endpoint with this day of traffic (one count per
    minute); refuses a day without requests, which has no shape to judge."""
    requests = np.asarray(requests, np.float64)
    predictions = np.asarray(predictions, np.float64)
    if requests.size == 0 or requests.sum() == 0:
        raise InvalidInput("the endpoint has no logged requests in the window", field="endpoint")
    shape = traffic_shape(requests, predictions, p50_ms, p99_ms, assume.keep_warm_minutes)
    sizing = right_size(predictions, p50_ms, cpu_per_prediction, model_bytes, assume)
    needed = np.ceil(
        predictions
        / 60
        * sizing.cpu_per_prediction_ms
        / 1000
        / assume.utilisation
        / sizing.replica_cpu
    )
    options = [
        dedicated(sizing, p99_ms, prices, assume),
        autoscaled(needed, requests, sizing, p99_ms, prices, assume),
        spot(needed, requests, predictions, sizing, p99_ms, prices, assume),
        serverless(requests, shape, sizing, p50_ms, p99_ms, prices, assume),
    ]
    meeting = [o for o in options if o.meets_target]
    if meeting:
        best = min(meeting, key=lambda o: o.monthly_cost)
        reason = f"the cheapest option whose p99 meets {assume.p99_target_ms:g} ms"
    else:
        best = options[0]
        reason = f"no option meets a p99 of {assume.p99_target_ms:g} ms; the steadiest one"
    return Advice(shape, sizing, options, best.name, reason)


def traffic_shape(
    requests: np.ndarray,
    predictions: np.ndarray,
    p50_ms: float | None,
    p99_ms: float | None,
    keep_warm: int,
) -> dict[str, float | int | None]:
    """Requests per minute (mean, p95, peak), burstiness (peak over mean), busy minutes,
    and the requests that follow ``keep_warm`` quiet minutes (cold for a function)."""
    mean = float(requests.mean())
    return {
        "minutes": int(requests.size),
        "requests": int(requests.sum()),
        "predictions": int(predictions.sum()),
        "rpm_mean": mean,
        "rpm_p95": float(np.percentile(requests, 95)),
        "rpm_peak": float(requests.max()),
        "burstiness": float(requests.max() / mean),
        "busy_minutes": int((requests > 0).sum()),
        "cold_requests": cold_requests(requests, keep_warm),
        "p50_ms": p50_ms,
        "p99_ms": p99_ms,
    }


def cold_requests(requests: np.ndarray, keep_warm: int) -> int:
    """Minutes with requests after at least ``keep_warm`` quiet minutes (or at the start
    of the window): one cold start each."""
    busy = np.flatnonzero(requests > 0)
    if busy.size == 0:
        return 0
    gaps = np.diff(busy) - 1
    return 1 + int((gaps >= keep_warm).sum())


def right_size(
    predictions: np.ndarray,
    p50_ms: float | None,
    cpu_per_prediction: float | None,
    model_bytes: float,
    assume: Assumptions,
) -> Sizing:
    measured = cpu_per_prediction is not None and cpu_per_prediction > 0
    cpu_ms = cpu_per_prediction * 1000 if measured else (p50_ms or 1.0)
    peak_vcpus = float(predictions.max()) / 60 * cpu_ms / 1000 / assume.utilisation
    replica_cpu = next((c for c in REPLICA_CPUS if 2 * c >= peak_vcpus), REPLICA_CPUS[-1])
    memory = math.ceil((PROCESS_BYTES + 1.2 * model_bytes) / GIB * 4) / 4  # 0.25 GiB steps
    replicas = max(assume.min_replicas, math.ceil(peak_vcpus / replica_cpu))
    return Sizing(cpu_ms, measured, peak_vcpus, replica_cpu, memory, replicas)


def monthly_factor(minutes: np.ndarray) -> float:
    """What turns a window of ``len(minutes)`` minutes into a month."""
    return DAYS_PER_MONTH * 1440 / len(minutes)


def hourly(sizing: Sizing, prices: dict[str, float], spot_prices: bool = False) -> float:
    """One replica for an hour, on demand or on spot."""
    prefix = "spot_" if spot_prices else ""
    return (
        sizing.replica_cpu * prices[f"{prefix}cpu_hour"]
        + sizing.replica_memory_gib * prices[f"{prefix}memory_gib_hour"]
    )


def dedicated(
    sizing: Sizing, p99_ms: float | None, prices: dict[str, float], assume: Assumptions
) -> Option:
    cost = sizing.peak_replicas * HOURS_PER_MONTH * hourly(sizing, prices)
    return Option(
        "dedicated",
        cost,
        p99_ms,
        _meets(p99_ms, assume),
        f"{sizing.peak_replicas} x {_size(sizing)} always on (the busiest minute's need)",
        "low: capacity for the peak at all times",
    )


def replica_minutes(needed: np.ndarray, assume: Assumptions) -> np.ndarray:
    """Replicas running each minute: the need of the last ``scale_down_minutes``, at least
    ``min_replicas``."""
    held = np.array(
        [
            needed[max(0, i - assume.scale_down_minutes + 1) : i + 1].max()
            for i in range(len(needed))
        ]
    )
    return np.maximum(held, assume.min_replicas)


def scale_up_share(needed: np.ndarray, requests: np.ndarray, assume: Assumptions) -> float:
    """Share of requests that arrive in minutes needing more replicas than were running
    ``scale_up_minutes`` before."""
    running = replica_minutes(needed, assume)
    lag = assume.scale_up_minutes
    before = np.concatenate([np.full(lag, running[0]), running[:-lag]]) if lag else running
    short = needed > before
    return float(requests[short].sum() / requests.sum())


def autoscaled(
    needed: np.ndarray,
    requests: np.ndarray,
    sizing: Sizing,
    p99_ms: float | None,
    prices: dict[str, float],
    assume: Assumptions,
) -> Option:
    running = replica_minutes(needed, assume)
    cost = running.sum() / 60 * monthly_factor(running) * hourly(sizing, prices)
    share = scale_up_share(needed, requests, assume)
    risky = share > RISKY_SHARE
    return Option(
        "autoscaled",
        float(cost),
        None if risky else p99_ms,
        not risky and _meets(p99_ms, assume),
        f"{assume.min_replicas} to {int(running.max())} x {_size(sizing)}, "
        f"{running.mean():.1f} on average",
        f"{share:.1%} of requests arrive while replicas are being added"
        + (" (the p99 waits for new pods)" if risky else ""),
    )


def spot(
    needed: np.ndarray,
    requests: np.ndarray,
    predictions: np.ndarray,
    sizing: Sizing,
    p99_ms: float | None,
    prices: dict[str, float],
    assume: Assumptions,
) -> Option:
    running = replica_minutes(needed, assume)
    on_demand = len(running) / 60 * hourly(sizing, prices)
    on_spot = (running - 1).sum() / 60 * hourly(sizing, prices, spot_prices=True)
    cost = (on_demand + on_spot) * monthly_factor(running)
    mean_vcpus = predictions.mean() / 60 * sizing.cpu_per_prediction_ms / 1000
    floor_holds = mean_vcpus / assume.utilisation <= sizing.replica_cpu
    share = scale_up_share(needed, requests, assume)
    meets = floor_holds and share <= RISKY_SHARE and _meets(p99_ms, assume)
    return Option(
        "spot",
        float(cost),
        p99_ms if meets else None,
        meets,
        f"1 on-demand + up to {int(running.max()) - 1} spot x {_size(sizing)}",
        "a reclaim removes spot replicas at short notice; "
        + (
            "the on-demand replica carries the mean load"
            if floor_holds
            else "the on-demand replica cannot carry the mean load alone"
        ),
    )


def serverless(
    requests: np.ndarray,
    shape: dict,
    sizing: Sizing,
    p50_ms: float | None,
    p99_ms: float | None,
    prices: dict[str, float],
    assume: Assumptions,
) -> Option:
    per_month = float(requests.sum()) * monthly_factor(requests)
    seconds = max(p50_ms or sizing.cpu_per_prediction_ms, 1.0) / 1000
    cost = per_month * (
        prices["serverless_requests_million"] / 1e6
        + seconds * sizing.replica_memory_gib * prices["serverless_gib_second"]
    )
    cold_share = shape["cold_requests"] / max(shape["requests"], 1)
    cold = cold_share > RISKY_SHARE
    projected = assume.cold_start_seconds * 1000 if cold else p99_ms
    return Option(
        "serverless",
        cost,
        projected,
        _meets(projected, assume),
        f"{per_month:,.0f} invocations a month at {sizing.replica_memory_gib:g} GiB, "
        f"{seconds * 1000:.1f} ms each",
        f"{shape['cold_requests']} cold starts a day of {assume.cold_start_seconds:g} s "
        f"({cold_share:.1%} of requests)",
    )


def _meets(p99_ms: float | None, assume: Assumptions) -> bool:
    return p99_ms is not None and p99_ms <= assume.p99_target_ms


def _size(sizing: Sizing) -> str:
    return f"{sizing.replica_cpu:g} vCPU / {sizing.replica_memory_gib:g} GiB"
