"""A server span per HTTP request, joined to the caller's trace by its ``traceparent``.

Installed only when tracing is on, so ``tracing: none`` costs the request nothing. The
span is named and labelled by route *template* (``POST /v1/predict/{endpoint}``), never
the raw path; the tenant id is added by the auth dependency. Headers other than
``traceparent``/``tracestate`` are never read, so no key can reach an attribute. Every
response carries ``traceparent`` naming this span, so a caller can find its trace.
"""

from __future__ import annotations

from opentelemetry.trace import Span, SpanKind, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ailayer.api.metrics import METHODS
from ailayer.core.tracing import Tracing, format_traceparent

_PROPAGATOR = TraceContextTextMapPropagator()
_CONTEXT_HEADERS = {b"traceparent": "traceparent", b"tracestate": "tracestate"}


class TracingMiddleware:
    """Pure ASGI: opens the request's SERVER span and adds ``traceparent`` to the response."""

    def __init__(self, app: ASGIApp, tracing: Tracing) -> None:
        if tracing.tracer is None:
            raise ValueError("TracingMiddleware needs tracing on")
        self.app = app
        self.tracer = tracing.tracer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = scope["method"] if scope["method"] in METHODS else "_OTHER"
        parent = _PROPAGATOR.extract(_trace_headers(scope))
        with self.tracer.start_as_current_span(
            method, parent, SpanKind.SERVER, {"http.request.method": method}
        ) as span:
            traceparent = format_traceparent(span)
            status = 500

            async def send_traced(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                    headers = [*message.get("headers", ()), (b"traceparent", traceparent)]
                    message = {**message, "headers": headers}
                await send(message)

            try:
                await self.app(scope, receive, send_traced)
            finally:
                _finish(span, scope, method, status)


def _trace_headers(scope: Scope) -> dict[str, str]:
    return {
        _CONTEXT_HEADERS[name]: value.decode("latin-1")
        for name, value in scope["headers"]
        if name in _CONTEXT_HEADERS
    }


def _finish(span: Span, scope: Scope, method: str, status: int) -> None:
    attributes: dict[str, str | int] = {"http.response.status_code": status}
    template = getattr(scope.get("route"), "path", None)
    if template is not None:
        span.update_name(f"{method} {template}")
        attributes["http.route"] = template
    span.set_attributes(attributes)  # one lock, not one per attribute
    if status >= 500:
        span.set_status(StatusCode.ERROR)
