"""Prometheus series of where models run: the model cache, micro-batches, provider calls,
and a model worker's requests.

``ModelCollector`` reads a model cache and micro-batcher when scraped; the API app's
``/metrics`` (``ailayer.api.metrics``) and a model worker's listener export it under the
same names, so a dashboard reads an embedded server and a worker alike. A worker adds
``WorkerMetrics``: its requests from gateways by operation and outcome, and their time.
Series gain a ``tenant`` label (and provider series a ``model`` one) with the setting
``metrics_per_tenant``, else are sums over tenants.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from ailayer.serving.batching import MicroBatcher
from ailayer.serving.model_cache import LOAD_BUCKETS, ModelCache, TenantStats
from ailayer.serving.runner import LocalRunner

PROVIDER_COUNTERS = {  # Usage field → help; exported as ailayer_provider_<field>_total
    "calls": "Calls made to external model APIs (cache hits excluded).",
    "failures": "External model API calls that gave no answer after retries.",
    "cache_hits": "Provider answers served from the response cache.",
    "fallbacks": "Rows answered by a provider's fallback version.",
    "prompt_tokens": "Prompt tokens the providers reported.",
    "completion_tokens": "Completion tokens the providers reported.",
    "cost": "Declared cost of provider calls, in the unit of each model's config.",
}
OK = "ok"  # the outcome of an answered worker request; a failed one is its error code


class ModelCollector(Collector):
    """The model cache, the micro-batcher and provider usage, read when scraped."""

    def __init__(
        self, models: ModelCache, batcher: MicroBatcher | None, per_tenant: bool = False
    ) -> None:
        self.models = models
        self.batcher = batcher
        self.per_tenant = per_tenant

    def describe(self) -> list[Metric]:
        return []  # nothing to check at registration; collect() reads live objects

    def collect(self) -> Iterator[Metric]:
        yield from self._model_loads()
        yield from self._micro_batches()
        yield from self._provider_usage()

    def _model_loads(self) -> Iterator[Metric]:
        """The model cache: cold-start seconds, loaded models and bytes, evictions."""
        cache = self.models
        extra = ["tenant"] if self.per_tenant else []
        groups: dict[tuple[str, ...], list[TenantStats]] = {} if extra else {(): []}
        for tenant, stats in cache.stats().items():
            groups.setdefault((tenant,) if extra else (), []).append(stats)
        loads = HistogramMetricFamily(
            "ailayer_model_load_seconds",
            "Cold starts: seconds to fetch, check and load a model version.",
            labels=extra,
        )
        loaded = GaugeMetricFamily("ailayer_models_loaded", "Models loaded now.", labels=extra)
        nbytes = GaugeMetricFamily(
            "ailayer_model_cache_bytes", "Measured memory of the loaded models.", labels=extra
        )
        evictions = CounterMetricFamily(
            "ailayer_model_evictions", "Models evicted to stay within the budget.", labels=extra
        )
        for labels, members in groups.items():
            columns = zip(*(m.load_counts for m in members), strict=True)
            counts = [sum(column) for column in columns] or [0] * (len(LOAD_BUCKETS) + 1)
            cumulative = list(itertools.accumulate(counts))
            bounds = [*map(str, LOAD_BUCKETS), "+Inf"]
            loads.add_metric(
                list(labels),
                list(zip(bounds, cumulative, strict=True)),
                sum(m.load_seconds for m in members),
            )
            loaded.add_metric(list(labels), sum(m.loaded for m in members))
            nbytes.add_metric(list(labels), sum(m.nbytes for m in members))
            evictions.add_metric(list(labels), sum(m.evictions for m in members))
        budget = GaugeMetricFamily(
            "ailayer_model_cache_budget_bytes", "The setting model_cache_bytes.", cache.budget_bytes
        )
        yield from (loads, loaded, nbytes, evictions, budget)

    def _micro_batches(self) -> Iterator[Metric]:
        """Model calls made by micro-batches and the requests they answered (their ratio
        is the mean batch size); nothing when micro-batching is off."""
        batcher = self.batcher
        if batcher is None:
            return
        yield CounterMetricFamily(
            "ailayer_micro_batches", "Model calls made by micro-batches.", batcher.calls
        )
        yield CounterMetricFamily(
            "ailayer_micro_batched_requests",
            "Requests answered by micro-batches.",
            batcher.requests,
        )

    def _provider_usage(self) -> Iterator[Metric]:
        """Provider calls and their declared cost, by tenant and model when per tenant
        (model names are tenant data), else summed."""
        labels = ["tenant", "model"] if self.per_tenant else []
        families = {
            name: CounterMetricFamily(f"ailayer_provider_{name}", help_, labels=labels)
            for name, help_ in PROVIDER_COUNTERS.items()
        }
        sums: dict[tuple[str, ...], dict[str, float]] = {}
        for (tenant, model, _), usage in self.models.costs.snapshot().items():
            group = sums.setdefault((tenant, model) if labels else (), dict.fromkeys(families, 0))
            for name in families:
                group[name] += getattr(usage, name)
        for key, group in sums.items():
            for name, family in families.items():
                family.add_metric(list(key), group[name])
        yield from families.values()


class WorkerMetrics:
    """A model worker's registry: its requests (counted and timed as they are answered)
    and its ``ModelCollector``. One per worker, so two workers in a process never share
    counters."""

    def __init__(self, runner: LocalRunner, per_tenant: bool = False) -> None:
        self.per_tenant = per_tenant
        self.registry = CollectorRegistry()
        extra = ("tenant",) if per_tenant else ()
        self.requests = Counter(
            "ailayer_model_worker_requests",
            "Gateway requests a model worker answered, by operation (predict, ready, "
            "explain) and outcome (ok, or the error code: model_error, ...).",
            ("op", "outcome", *extra),
            registry=self.registry,
        )
        self.latency = Histogram(
            "ailayer_model_worker_request_duration_seconds",
            "Time from a request's arrival at the worker to its answer, by operation.",
            ("op", *extra),
            registry=self.registry,
        )
        self.registry.register(ModelCollector(runner.models, runner.batcher, per_tenant))

    def observe(self, op: str, outcome: str, tenant_id: str, started: float) -> None:
        """One answered request; ``started`` is its ``time.perf_counter()`` at arrival."""
        extra = (tenant_id or "none",) if self.per_tenant else ()  # "none": unreadable
        self.requests.labels(op, outcome, *extra).inc()
        self.latency.labels(op, *extra).observe(time.perf_counter() - started)
