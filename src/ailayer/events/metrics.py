"""Prometheus metrics of consumer runners: the lag that autoscaling reads, and counters.

The API server exports the runners it watches on its own ``/metrics``; the standalone
workers (``ailayer consume``, ``ailayer stream run``, ``ailayer infer``) serve the same
families on ``--metrics-port`` so that Prometheus (or KEDA through it) can scale a group
on ``ailayer_consumer_lag``. Values are read from the runners' live stats at scrape time;
``keep_lag_fresh`` asks the broker for the lag every few seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Iterator
from dataclasses import fields, is_dataclass
from typing import Any, Protocol

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from ailayer.core.errors import BackendUnavailable

logger = logging.getLogger("ailayer.events")
GAUGES = ("lag", "in_flight")  # everything else in a runner's stats is a counter


class Watched(Protocol):
    """What both ConsumerRunner and StreamRunner offer."""

    topic: str
    group: str
    stats: Any

    @property
    def consuming(self) -> bool: ...


class RunnerCollector:
    """``ailayer_consumer_lag``, ``ailayer_consumer_in_flight`` and
    ``ailayer_consumer_events_total{outcome}`` for each watched runner."""

    def __init__(self, runners: list[Watched]) -> None:
        self.runners = runners

    def collect(self) -> Iterator[Metric]:
        labels = ["topic", "group"]
        lag = GaugeMetricFamily(
            "ailayer_consumer_lag",
            "Events undelivered or unacked for a watched consumer group.",
            labels=labels,
        )
        in_flight = GaugeMetricFamily(
            "ailayer_consumer_in_flight", "Deliveries held by this worker now.", labels=labels
        )
        events = CounterMetricFamily(
            "ailayer_consumer_events",
            "Events by outcome (processed, retried, dead_lettered, applied, ...).",
            labels=[*labels, "outcome"],
        )
        for runner in self.runners:
            names = [runner.topic, runner.group]
            for name, value in _counts(runner.stats):
                if name == "lag":
                    lag.add_metric(names, value)
                elif name == "in_flight":
                    in_flight.add_metric(names, value)
                else:
                    events.add_metric([*names, name], value)
        yield from (lag, in_flight, events)


def _counts(stats: Any) -> Iterable[tuple[str, float]]:
    if not is_dataclass(stats):
        return []
    found = ((f.name, getattr(stats, f.name)) for f in fields(stats))
    return [(name, float(value)) for name, value in found if isinstance(value, int)]


async def keep_lag_fresh(bus: Any, runners: list[Watched], interval: float = 5.0) -> None:
    """Refresh each runner's ``stats.lag`` from the broker until cancelled."""
    while True:
        for runner in runners:
            with contextlib.suppress(BackendUnavailable):
                runner.stats.lag = await bus.lag(runner.topic, runner.group)
        await asyncio.sleep(interval)
