"""Prometheus metrics of the rollout controller, read from its ``Counts`` when scraped.

``ailayer_rollout_transitions_total{action}`` (step, promote, rollback) counts what this
controller stored; ``ailayer_rollout_conflicts_total`` the transitions another replica or
a person made first; ``ailayer_rollout_failures_total`` canaries whose judging failed;
``ailayer_rollout_canaries`` the active canaries its latest pass saw. ``ailayer up``
registers them in the app's registry; ``ailayer controller --metrics-port`` serves them.
Series carry no tenant or endpoint names (those are tenant data).
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ailayer.rollout.controller import Counts


class ControllerCollector(Collector):
    def __init__(self, counts: Counts) -> None:
        self.counts = counts

    def describe(self) -> list[Metric]:
        return []  # values are read at scrape time

    def collect(self) -> Iterator[Metric]:
        counts = self.counts
        transitions = CounterMetricFamily(
            "ailayer_rollout_transitions",
            "Canary transitions this controller stored, by action.",
            labels=["action"],
        )
        for action, value in (
            ("step", counts.steps),
            ("promote", counts.promotions),
            ("rollback", counts.rollbacks),
        ):
            transitions.add_metric([action], value)
        yield transitions
        yield CounterMetricFamily(
            "ailayer_rollout_holds", "Judgements that kept a canary where it is.", counts.holds
        )
        yield CounterMetricFamily(
            "ailayer_rollout_conflicts",
            "Transitions skipped because another writer moved the revision first.",
            counts.conflicts,
        )
        yield CounterMetricFamily(
            "ailayer_rollout_failures",
            "Canaries (or passes) whose judging failed.",
            counts.failures,
        )
        yield CounterMetricFamily(
            "ailayer_rollout_passes", "Passes over the canaries.", counts.passes
        )
        yield GaugeMetricFamily(
            "ailayer_rollout_canaries", "Active canaries seen by the latest pass.", counts.canaries
        )
