"""Prometheus series of the retention job, read from its counts when scraped.

``ailayer_retention_removed_total{store}``: what retention removed since the process
started (files for prediction_log, feedback and events; rows for log_rollups; records
for datasets and audit);
``ailayer_retention_passes_total`` and ``ailayer_retention_failures_total``. No tenant
labels (tenant data); each tenant's removals are in its audit trail.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from ailayer.retention.job import STORES, RetentionJob


class RetentionCollector(Collector):
    def __init__(self, job: RetentionJob) -> None:
        self.job = job

    def describe(self) -> list[Metric]:
        return []  # values are read at scrape time

    def collect(self) -> Iterator[Metric]:
        removed = CounterMetricFamily(
            "ailayer_retention_removed",
            "What retention removed, by store (files: prediction_log, feedback, events; "
            "rows: log_rollups; records: datasets, audit).",
            labels=["store"],
        )
        for store in STORES:
            removed.add_metric([store], self.job.counts[store])
        yield removed
        yield CounterMetricFamily(
            "ailayer_retention_passes", "Retention passes completed.", self.job.passes
        )
        yield CounterMetricFamily(
            "ailayer_retention_failures", "Retention passes that failed.", self.job.failures
        )
