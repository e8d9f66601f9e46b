"""Prometheus series of the usage this process measured, and what it costs.

Read from the ``UsageMeter``'s totals (updated at each write, every
``cost_flush_seconds``): ``ailayer_usage_cpu_seconds``,
``ailayer_usage_model_memory_byte_seconds`` and ``ailayer_usage_events{direction}``
counters, and ``ailayer_usage_cost{resource}`` in the price table's currency. With
``metrics_per_tenant`` they are labelled by tenant (and model), else summed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from ailayer.cost.usage import CPU, EVENTS, MEMORY, UsageMeter

GIB_HOUR = float(1 << 30) * 3600


class UsageCollector(Collector):
    def __init__(self, meter: UsageMeter, prices: dict[str, float], per_tenant: bool) -> None:
        self.meter = meter
        self.prices = prices
        self.per_tenant = per_tenant

    def describe(self) -> list[Metric]:
        return []  # read at scrape

    def collect(self) -> Iterator[Metric]:
        tenant = ["tenant"] if self.per_tenant else []
        model = [*tenant, "model"] if self.per_tenant else []
        cpu = CounterMetricFamily(
            "ailayer_usage_cpu_seconds", "CPU seconds of model calls, measured.", labels=model
        )
        memory = CounterMetricFamily(
            "ailayer_usage_model_memory_byte_seconds",
            "Bytes held by loaded models, times the seconds they were held.",
            labels=model,
        )
        events = CounterMetricFamily(
            "ailayer_usage_events",
            "Events published (in) and delivered (out).",
            labels=[*tenant, "direction"],
        )
        cost = CounterMetricFamily(
            "ailayer_usage_cost",
            "What the measured usage costs under the price table, by resource.",
            labels=[*tenant, "resource"],
        )
        sums: dict[tuple, float] = defaultdict(float)
        money: dict[tuple, float] = defaultdict(float)
        for (who, resource, name, _), quantity in list(self.meter.totals.items()):
            who_labels = (who,) if self.per_tenant else ()
            if resource in (CPU, MEMORY):
                key = (resource, *who_labels, *((name,) if self.per_tenant else ()))
            else:
                key = (resource, *who_labels)
            sums[key] += quantity
            money[(*who_labels, resource)] += self._price(resource, quantity)
        directions = {name: direction for direction, name in EVENTS.items()}
        for (resource, *labels), value in sums.items():
            if resource == CPU:
                cpu.add_metric(labels, value)
            elif resource == MEMORY:
                memory.add_metric(labels, value)
            else:
                events.add_metric([*labels, directions[resource]], value)
        for labels, value in money.items():
            cost.add_metric(list(labels), value)
        yield from (cpu, memory, events, cost)

    def _price(self, resource: str, quantity: float) -> float:
        if resource == CPU:
            return quantity / 3600 * self.prices["cpu_hour"]
        if resource == MEMORY:
            return quantity / GIB_HOUR * self.prices["memory_gib_hour"]
        return quantity / 1e6 * self.prices["events_million"]
