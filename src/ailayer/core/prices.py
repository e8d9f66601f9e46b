"""The price table: what one unit of each resource costs, so usage becomes money.

Defaults are on-demand list prices of a large public cloud in US dollars (late 2026, a
general-purpose x86 instance split into its vCPU and memory shares; object storage;
a managed broker's price per million events; a function platform's request and GiB-second
prices). They are examples to edit, not a quote: set ``prices`` in ``ailayer.yaml`` or
``AILAYER_PRICES`` (JSON) with every resource below, in one currency of your choice.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

DEFAULT_PRICES: dict[str, float] = {
    "cpu_hour": 0.0416,  # one vCPU for an hour, on-demand
    "memory_gib_hour": 0.0052,  # one GiB of memory for an hour, on-demand
    "spot_cpu_hour": 0.0125,  # the same vCPU on spot (interruptible) capacity
    "spot_memory_gib_hour": 0.0016,
    "storage_gib_month": 0.023,  # object storage (artifacts, offline store, log)
    "events_million": 0.40,  # a million events published or delivered
    "serverless_requests_million": 0.20,  # a million function invocations
    "serverless_gib_second": 0.0000166667,  # function memory in GiB times seconds
}
RESOURCES = tuple(DEFAULT_PRICES)


def check_prices(value: Any) -> dict[str, float]:
    """A complete price table: every resource of ``RESOURCES`` with a finite price >= 0
    and nothing else; raises ``ValueError`` naming the first missing, unknown or bad one."""
    if not isinstance(value, Mapping):
        raise ValueError(f"must be a mapping of resource to price; got {type(value).__name__}")
    missing = [name for name in RESOURCES if name not in value]
    if missing:
        raise ValueError(
            f"prices.{missing[0]} is missing: the price table needs a price for every "
            f"resource ({', '.join(RESOURCES)})"
        )
    unknown = sorted(set(value) - set(RESOURCES))
    if unknown:
        raise ValueError(f"prices.{unknown[0]} is not a known resource ({', '.join(RESOURCES)})")
    table = {}
    for name in RESOURCES:
        price = value[name]
        if isinstance(price, bool) or not isinstance(price, int | float):
            raise ValueError(f"prices.{name} must be a number; got {price!r}")
        if not 0 <= float(price) < float("inf"):
            raise ValueError(f"prices.{name} must be a finite number >= 0; got {price!r}")
        table[name] = float(price)
    return table
