"""Prometheus ``GET /metrics``: aggregate, tenant-free series unless asked otherwise.

Endpoint names, model names and paths are tenant data, so by default every series is a
sum over tenants and request series are labelled by route *template*
(``/v1/predict/{endpoint}``). Even so the route shows traffic and model counts, so it
needs a key with the ``metrics`` permission (admin, developer, viewer, service); a
scraper sends ``Authorization: Bearer <key>``.
With the setting ``metrics_per_tenant`` request and model-load series gain a ``tenant``
label (the tenant id), and the latest drift scores per endpoint, model version and feature
are exported (names of endpoints and features are tenant data, so never without it);
then a key sees only the series labelled with its own tenant. Every series, for the
operator, is on the keyless listener of the setting ``metrics_listen`` (keep that address
private). Each app owns its own ``CollectorRegistry``, so two apps (or two tests) in one
process never share counters.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Annotated, Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

from fastapi import APIRouter, Depends, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    make_wsgi_app,
)
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    Metric,
)
from prometheus_client.exposition import ThreadingWSGIServer
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ailayer.api.auth import requires
from ailayer.core.errors import InvalidInput
from ailayer.core.settings import listen_address
from ailayer.cost.metrics import UsageCollector
from ailayer.events.metrics import RunnerCollector
from ailayer.governance.principal import Principal
from ailayer.governance.roles import Permission
from ailayer.serving.metrics import ModelCollector

if TYPE_CHECKING:
    from ailayer.api.turns import FairTurns
    from ailayer.bootstrap import Services
    from ailayer.events.consumer import ConsumerRunner

UNMATCHED = "unmatched"  # 404s, and 413s refused before routing: never the raw path
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

router = APIRouter(tags=["health"])


@router.get("/metrics", include_in_schema=False)
def metrics(
    request: Request, principal: Annotated[Principal, Depends(requires(Permission.METRICS))]
) -> Response:
    app_metrics: AppMetrics = request.app.state.metrics
    source: Collector = app_metrics.registry
    if app_metrics.per_tenant:
        source = TenantView(app_metrics.registry, principal.tenant_id)
    return Response(generate_latest(source), media_type=CONTENT_TYPE_LATEST)


class TenantView(Collector):
    """A registry as one tenant's key sees it: only samples labelled with that tenant
    (process-wide series without a tenant label are the operator's, on ``metrics_listen``)."""

    def __init__(self, registry: CollectorRegistry, tenant_id: str) -> None:
        self.registry = registry
        self.tenant_id = tenant_id

    def collect(self) -> Iterator[Metric]:
        for family in self.registry.collect():
            samples = [s for s in family.samples if s.labels.get("tenant") == self.tenant_id]
            if samples:
                view = Metric(family.name, family.documentation, family.type, family.unit)
                view.samples = samples
                yield view


class _ReusePortServer(ThreadingWSGIServer):
    """``serve --workers N``: every worker listens on the address, one answers a scrape."""

    allow_reuse_port = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes are not logged."""


Readiness = Callable[[], "str | None"]  # None: ready; else why not


def ops_app(registry: CollectorRegistry, ready: Readiness | None = None) -> Callable:
    """The WSGI app of a keyless listener: ``/healthz`` (the process answers),
    ``/readyz`` (``ready()`` says the role's dependencies answer: 200, else 503 with the
    reason) and the registry's series on every other path, as Prometheus' own app."""
    metrics_app = make_wsgi_app(registry)

    def app(environ: dict, start_response: Callable) -> list[bytes]:
        path = environ.get("PATH_INFO", "")
        if path not in ("/healthz", "/readyz"):
            return metrics_app(environ, start_response)
        reason = None
        if path == "/readyz" and ready is not None:
            try:
                reason = ready()
            except Exception as exc:  # a check that raises is a dependency that does not answer
                reason = f"{type(exc).__name__}: {exc}"
        if reason is None:
            body, status = {"status": "ok" if path == "/healthz" else "ready"}, "200 OK"
        else:
            body, status = {"status": "not ready", "reason": reason}, "503 Service Unavailable"
        start_response(status, [("Content-Type", "application/json")])
        return [json.dumps(body).encode()]

    return app


@contextlib.contextmanager
def open_metrics(
    registry: CollectorRegistry,
    listen: str,
    *,
    shared: bool = True,
    ready: Readiness | None = None,
) -> Iterator[None]:
    """Serve every series of ``registry`` without a key on ``listen`` (``host:port``),
    with ``/healthz`` and ``/readyz`` (``ops_app``), while the block runs; nothing when
    ``listen`` is empty. ``shared``: the processes of one server share the address; a
    model worker or a worker role does not, so an address already taken (by its gateway,
    say) is an error rather than scrapes answered by either."""
    if not listen:
        yield
        return
    host, port = listen_address(listen)
    base = _ReusePortServer if shared else ThreadingWSGIServer
    server_class = type("OpenMetricsServer", (base,), {})
    server_class.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        server = make_server(
            host, port, ops_app(registry, ready), server_class, handler_class=_QuietHandler
        )
    except OSError as exc:
        raise InvalidInput(
            f"metrics_listen {listen}: cannot listen there ({exc.strerror or exc})",
            field="metrics_listen",
        ) from None
    thread = threading.Thread(target=server.serve_forever, name="ailayer-metrics", daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


class AppMetrics:
    """One app's registry: request series fed by the middleware, the rest read at scrape."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.per_tenant = services.settings.metrics_per_tenant
        self.registry = CollectorRegistry()
        self.runners: list[ConsumerRunner] = []
        self.turns: FairTurns | None = None  # the HTTP protocol's, with rates on (turns.py)
        self._children: dict[tuple, tuple] = {}  # labels → (counter, histogram) children
        extra = ("tenant",) if self.per_tenant else ()
        self.requests = Counter(
            "ailayer_http_requests",
            "HTTP requests answered, by route template, method and status.",
            ("route", "method", "status", *extra),
            registry=self.registry,
        )
        self.latency = Histogram(
            "ailayer_http_request_duration_seconds",
            "Time from request to the last response byte, by route template.",
            ("route", *extra),
            registry=self.registry,
        )
        self.registry.register(_ServiceCollector(self))
        if services.usage_writer is not None:  # measured usage and its cost (cost/metrics.py)
            usage = UsageCollector(
                services.usage_writer.meter, services.settings.prices, self.per_tenant
            )
            self.registry.register(usage)

    def watch(self, runner: ConsumerRunner) -> None:
        """Export ``runner.stats.lag`` as ``ailayer_consumer_lag`` (read at scrape, no I/O)."""
        self.runners.append(runner)

    def observe(self, scope: Scope, status: int, seconds: float) -> None:
        route = scope.get("route")
        template = getattr(route, "path", None) or UNMATCHED
        method = scope["method"] if scope["method"] in METHODS else "other"
        extra = (self._tenant(scope),) if self.per_tenant else ()
        key = (template, method, status, *extra)
        children = self._children.get(key)
        if children is None:  # labels() locks and validates: do it once per label set
            children = self._children[key] = (
                self.requests.labels(template, method, str(status), *extra),
                self.latency.labels(template, *extra),
            )
        children[0].inc()
        children[1].observe(seconds)

    def _tenant(self, scope: Scope) -> str:
        """The tenant of an authenticated request, from the key cache auth just filled."""
        raw = None
        for name, value in scope["headers"]:
            if name == b"authorization" and value[:7].lower() == b"bearer ":
                raw = value[7:].strip().decode("latin-1")
            elif name == b"x-api-key" and raw is None:
                raw = value.decode("latin-1")
        principal = self.services.keys.cached(raw)
        return principal.tenant_id if principal is not None else "none"


class MetricsMiddleware:
    """Pure ASGI: counts and times each HTTP request; the route is known after routing."""

    def __init__(self, app: ASGIApp, metrics: AppMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            self.metrics.observe(scope, status, time.perf_counter() - started)


class _ServiceCollector(Collector):
    """Series read from the services when scraped: the model cache (``ModelCollector``,
    as a model worker exports it too), the log buffer, lag."""

    def __init__(self, metrics: AppMetrics) -> None:
        self.metrics = metrics

    def describe(self) -> list[Metric]:
        return []  # nothing to check at registration; collect() reads live services

    def collect(self) -> Iterator[Metric]:
        predictor = self.metrics.services.predictor
        yield from ModelCollector(
            predictor.models, predictor.batcher, self.metrics.per_tenant
        ).collect()
        yield from self._prediction_log()
        if self.metrics.turns is not None:
            yield CounterMetricFamily(
                "ailayer_fair_turns_yielded",
                "Predict requests that let another tenant's waiting request go first.",
                self.metrics.turns.yielded,
            )
        yield from RunnerCollector(self.metrics.runners).collect()
        yield from self._shadows()
        if self.metrics.per_tenant:  # endpoint and feature names are tenant data
            yield from self._drift()

    def _prediction_log(self) -> Iterator[Metric]:
        log = self.metrics.services.prediction_log
        yield GaugeMetricFamily(
            "ailayer_prediction_log_buffer_rows", "Rows waiting for the writer.", log.buffer.rows
        )
        yield GaugeMetricFamily(
            "ailayer_prediction_log_capacity_rows",
            "Rows the buffer holds before dropping.",
            log.buffer.capacity_rows,
        )
        yield CounterMetricFamily(
            "ailayer_prediction_log_dropped_rows", "Rows dropped: buffer full.", log.dropped
        )
        yield CounterMetricFamily(
            "ailayer_prediction_log_failed_rows", "Rows the sink failed to write.", log.failed
        )
        yield CounterMetricFamily(
            "ailayer_prediction_log_written_rows",
            "Rows stored in part files (with a log process: as of its last flush).",
            log.written,
        )

    def _shadows(self) -> Iterator[Metric]:
        """Shadow traffic of this process: copies sent, dropped (queue full) and failed,
        and shadow predictions that agreed or disagreed with the live one; by tenant,
        endpoint and variant with ``metrics_per_tenant`` (names are tenant data), else
        summed."""
        labels = ["tenant", "endpoint", "variant"] if self.metrics.per_tenant else []
        requests = CounterMetricFamily(
            "ailayer_shadow_requests",
            "Shadow copies by outcome: sent (queued), dropped (queue full), failed.",
            labels=[*labels, "outcome"],
        )
        predictions = CounterMetricFamily(
            "ailayer_shadow_predictions",
            "Shadow predictions that agreed or disagreed with the live prediction.",
            labels=[*labels, "outcome"],
        )
        sums: dict[tuple[str, ...], list[int]] = {}
        for key, counts in list(self.metrics.services.predictor.shadows.counts.items()):
            group = key if labels else ()
            values = [counts.sent, counts.dropped, counts.failed, counts.agreed, counts.disagreed]
            total = sums.setdefault(group, [0] * 5)
            sums[group] = [a + b for a, b in zip(total, values, strict=True)]
        for group, (sent, dropped, failed, agreed, disagreed) in sums.items():
            for outcome, value in (("sent", sent), ("dropped", dropped), ("failed", failed)):
                requests.add_metric([*group, outcome], value)
            for outcome, value in (("agreed", agreed), ("disagreed", disagreed)):
                predictions.add_metric([*group, outcome], value)
        yield from (requests, predictions)

    def _drift(self) -> Iterator[Metric]:
        """The latest drift report per (tenant, endpoint, model, version) that this
        process computed (a ``/drift`` request or the monitor), read from memory."""
        keys = ["tenant", "endpoint", "model", "version"]
        named, scored = [*keys, "feature", "method"], [*keys, "method"]
        score = _gauge("drift_score", "Statistic of each feature's drift test.", named)
        p_value = _gauge("drift_p_value", "p-value of a ks or chi2 drift test.", named)
        detected = _gauge("drift_detected", "1 if the feature drifted.", named)
        share = _gauge("drift_share", "Share of judged features that drifted.", keys)
        prediction = _gauge("prediction_drift_score", "Drift statistic of the score.", scored)
        prediction_detected = _gauge("prediction_drift_detected", "1 if it drifted.", scored)
        window_end = _gauge(
            "drift_window_end_timestamp_seconds", "End of the judged window (Unix time).", keys
        )
        for key, (end, report) in self.metrics.services.drift.latest.items():
            labels = [*key[:3], str(key[3])]
            window_end.add_metric(labels, end.timestamp())
            if report.drift_share is not None:
                share.add_metric(labels, report.drift_share)
            for feature in report.features:
                if feature.drifted is None or feature.statistic is None:
                    continue
                labelled = [*labels, feature.name, feature.method or ""]
                score.add_metric(labelled, feature.statistic)
                detected.add_metric(labelled, float(feature.drifted))
                if feature.p_value is not None:
                    p_value.add_metric(labelled, feature.p_value)
            judged = report.prediction
            if judged is not None and judged.drifted is not None and judged.statistic is not None:
                labelled = [*labels, judged.method or ""]
                prediction.add_metric(labelled, judged.statistic)
                prediction_detected.add_metric(labelled, float(judged.drifted))
        yield from (score, p_value, detected, share, prediction, prediction_detected, window_end)


def _gauge(name: str, documentation: str, labels: list[str]) -> GaugeMetricFamily:
    """A drift gauge of the latest window (``ailayer_`` + name)."""
    return GaugeMetricFamily(f"ailayer_{name}", documentation + " Latest window.", labels=labels)
