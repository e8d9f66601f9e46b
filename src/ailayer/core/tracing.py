"""OpenTelemetry traces, configured from settings: an app's own tracer, or none at all.

``tracing: none`` (the default) builds no provider and imports no SDK: ``span()`` then
returns one shared null context, so the predict path pays a method call per span.
``console`` prints finished spans to stdout; ``otlp`` sends them over OTLP/HTTP
(protobuf) to ``tracing_endpoint``, with the exporter from the ``otel`` extra. Spans are
exported by a batch processor in a background thread, never on the request.

Sampling is parent-based: a caller's ``traceparent`` decision is kept, and a new trace
is sampled with probability ``tracing_sample_ratio``. The provider belongs to the app,
not OpenTelemetry's process-global one, so two apps (or tests) in one process trace
independently; span context still flows through OpenTelemetry's context (contextvars),
which worker threads started with ``anyio.to_thread`` inherit.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager, nullcontext
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from ailayer.core.errors import InvalidInput

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.util.types import Attributes

    from ailayer.core.settings import Settings

SERVICE_NAME = "ailayer"
TENANT_ID = "ailayer.tenant_id"
_OFF: AbstractContextManager[None] = nullcontext()
_PROPAGATOR = TraceContextTextMapPropagator()
CONTEXT_FIELDS = ("traceparent", "tracestate")  # W3C; CloudEvents' tracing extension too


class Tracing:
    """An app's tracer, or none: with none, every ``span()`` is the same null context."""

    def __init__(self, provider: TracerProvider | None = None) -> None:
        self.provider = provider
        self.tracer: Tracer | None = (
            provider.get_tracer(SERVICE_NAME) if provider is not None else None
        )

    @property
    def enabled(self) -> bool:
        return self.tracer is not None

    def span(self, name: str, attributes: Attributes = None) -> AbstractContextManager[Span | None]:
        """A child of the current span, made current; yields ``None`` when tracing is off.

        Callers compute attributes only when a span is yielded, so tracing off costs no
        attribute work. Inside a trace that was not sampled it also yields ``None``: its
        children could never be sampled (parent-based), so making them would be waste.
        An exception leaving the block is recorded and marks the span.
        """
        if self.tracer is None:
            return _OFF
        parent = trace.get_current_span().get_span_context()
        if parent.is_valid and not parent.trace_flags.sampled:
            return _OFF
        return self.tracer.start_as_current_span(name, attributes=attributes)

    def linked_span(
        self, name: str, carrier: Mapping[str, object], attributes: Attributes = None
    ) -> AbstractContextManager[Span | None]:
        """A CONSUMER span continuing the trace named in ``carrier`` (an event's
        ``traceparent``/``tracestate`` extensions), or starting one; made current.

        This is how work done off an event (async inference) joins the trace of whatever
        produced the event. ``None`` when tracing is off."""
        if self.tracer is None:
            return _OFF
        fields = {k: v for k in CONTEXT_FIELDS if isinstance(v := carrier.get(k), str)}
        return self.tracer.start_as_current_span(
            name, context=_PROPAGATOR.extract(fields), kind=SpanKind.CONSUMER, attributes=attributes
        )

    def carrier(self) -> dict[str, str]:
        """The current span's ``traceparent`` (and ``tracestate``), to put on an event so
        its consumers continue this trace; empty when tracing is off."""
        if self.tracer is None:
            return {}
        fields: dict[str, str] = {}
        _PROPAGATOR.inject(fields)
        return fields

    def current_span(self) -> Span | None:
        """The current span (the request's, outside any child), or ``None`` when off."""
        return None if self.tracer is None else trace.get_current_span()

    def shutdown(self) -> None:
        """Flush and stop the exporter (on the app's shutdown and ``Services.close``);
        a second call does nothing."""
        if self.provider is not None:
            provider, self.provider = self.provider, None
            provider.shutdown()


TRACING_OFF = Tracing()


def open_tracing(settings: Settings) -> Tracing:
    """The tracing the settings ask for: nothing, console output or an OTLP exporter."""
    if settings.tracing == "none":
        return TRACING_OFF
    return Tracing(make_provider(_exporter(settings), settings.tracing_sample_ratio))


def make_provider(
    exporter: SpanExporter, sample_ratio: float = 1.0, *, batch: bool = True
) -> TracerProvider:
    """A provider for service ``ailayer`` exporting to ``exporter``.

    ``batch=False`` exports each span as it ends (tests with an in-memory exporter).
    """
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
    from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

    resource = Resource.create({"service.name": SERVICE_NAME, "service.version": _version()})
    provider = TracerProvider(
        resource=resource, sampler=ParentBased(TraceIdRatioBased(sample_ratio))
    )
    processor = BatchSpanProcessor(exporter) if batch else SimpleSpanProcessor(exporter)
    provider.add_span_processor(processor)
    return provider


def format_traceparent(span: Span) -> bytes:
    """The W3C ``traceparent`` value naming ``span``, for a response header."""
    context = span.get_span_context()
    return b"00-%032x-%016x-%02x" % (context.trace_id, context.span_id, context.trace_flags)


def _exporter(settings: Settings) -> SpanExporter:
    if settings.tracing == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    except ImportError:
        raise InvalidInput(
            "tracing: otlp needs the OTLP exporter: pip install 'ailayer[otel]'",
            field="tracing",
        ) from None
    return OTLPSpanExporter(endpoint=settings.tracing_endpoint or None)


def _version() -> str:
    try:
        return version("ailayer")
    except PackageNotFoundError:
        return "unknown"
