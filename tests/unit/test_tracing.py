"""Traces through the real app: the span tree of a prediction, a caller's traceparent
continued, no secret in any attribute, nothing at all with ``tracing: none``, and spans
that reach a real OTLP/HTTP receiver."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
import skops.io as sio
from fastapi.testclient import TestClient
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from pydantic import ValidationError
from sklearn.linear_model import LogisticRegression

from ailayer.api import create_app
from ailayer.api.tracing import TracingMiddleware
from ailayer.bootstrap import Services, build
from ailayer.core.settings import load_settings
from ailayer.core.tracing import TRACING_OFF, Tracing, make_provider, open_tracing
from tests.support import feature_repo
from tests.support.services import tiny_sklearn_model, upload_form

GOOD = {"amount": 900.0, "card_age_days": 3}
CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"
FEATURE_INPUTS = ["avg_amount", "txn_count", "risk", "amount_ratio"]


@dataclass
class Traced:
    client: TestClient
    services: Services
    spans: InMemorySpanExporter
    tenant_id: str
    key: str

    def headers(self, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}", **extra}

    def finished(self) -> list[ReadableSpan]:
        return list(self.spans.get_finished_spans())


def traced_app(services: Services, sample_ratio: float = 1.0) -> Traced:
    spans = InMemorySpanExporter()
    tracing = Tracing(make_provider(spans, sample_ratio, batch=False))
    tenant_id = services.keys.create_tenant("acme")
    key = services.keys.create_key(tenant_id, "admin-key", "admin").key
    client = TestClient(create_app(services, tracing=tracing))
    return Traced(client, services, spans, tenant_id, key)


@pytest.fixture
def traced(make_settings) -> Iterator[Traced]:  # type: ignore[no-untyped-def]
    services = build(make_settings(feature_repo="tests.support.feature_repo"))
    made = traced_app(services)
    yield made
    made.client.close()
    services.close()


def register_fraud(traced: Traced) -> None:
    form = upload_form(tiny_sklearn_model(), aliases=["champion"])
    response = traced.client.post("/v1/models/fraud/versions", headers=traced.headers(), **form)
    assert response.status_code == 201, response.text
    traced.spans.clear()


def by_name(spans: list[ReadableSpan]) -> dict[str, ReadableSpan]:
    named = {span.name: span for span in spans}
    assert len(named) == len(spans), [s.name for s in spans]
    return named


def server_span(spans: list[ReadableSpan]) -> ReadableSpan:
    [server] = [s for s in spans if s.kind == SpanKind.SERVER]
    return server


# --- the span tree --------------------------------------------------------------------------


def test_a_prediction_is_a_server_span_with_auth_resolve_and_model_children(traced) -> None:  # type: ignore[no-untyped-def]
    register_fraud(traced)
    response = traced.client.post("/v1/predict/fraud", headers=traced.headers(), json=GOOD)
    assert response.status_code == 200, response.text

    spans = by_name(traced.finished())
    assert set(spans) == {
        "POST /v1/predict/{endpoint}", "auth", "resolve", "model.load", "model.predict",
    }  # fmt: skip
    server = spans["POST /v1/predict/{endpoint}"]
    assert server.kind == SpanKind.SERVER
    assert server.parent is None
    assert dict(server.attributes) == {
        "http.request.method": "POST",
        "http.route": "/v1/predict/{endpoint}",
        "http.response.status_code": 200,
        "ailayer.tenant_id": traced.tenant_id,
    }
    for name in ("auth", "resolve", "model.load", "model.predict"):
        child = spans[name]
        assert child.parent is not None and child.parent.span_id == server.context.span_id
        assert child.context.trace_id == server.context.trace_id
        assert server.start_time <= child.start_time <= child.end_time <= server.end_time
    assert dict(spans["resolve"].attributes) == {
        "ailayer.endpoint": "fraud",
        "ailayer.model.name": "fraud",
        "ailayer.model.version": 1,
        "ailayer.model.variant": "champion",
    }
    assert dict(spans["model.predict"].attributes) == {
        "ailayer.model.flavor": "sklearn",
        "ailayer.rows": 1,
    }
    assert server.resource.attributes["service.name"] == "ailayer"
    version, trace_id, span_id, flags = response.headers["traceparent"].split("-")
    assert (version, trace_id, span_id) == (
        "00",
        f"{server.context.trace_id:032x}",
        f"{server.context.span_id:016x}",
    )
    assert int(flags, 16) & 1  # sampled


def test_explain_gets_its_own_span_and_a_loaded_model_no_load_span(traced) -> None:  # type: ignore[no-untyped-def]
    register_fraud(traced)
    assert traced.client.post("/v1/predict/fraud", headers=traced.headers(), json=GOOD)
    traced.spans.clear()

    response = traced.client.post(
        "/v1/predict/fraud?explain=true", headers=traced.headers(), json=[GOOD, GOOD]
    )
    assert response.status_code == 200, response.text
    spans = by_name(traced.finished())
    assert "model.load" not in spans
    assert spans["explain"].attributes["ailayer.rows"] == 2
    assert spans["model.predict"].attributes["ailayer.rows"] == 2
    assert spans["explain"].parent.span_id == server_span(list(spans.values())).context.span_id


def test_features_span_wraps_the_online_lookup(traced) -> None:  # type: ignore[no-untyped-def]
    services, tenant = traced.services, traced.tenant_id
    services.features.apply(tenant, "test", feature_repo.REPO)
    root = services.offline.tenant_root(tenant)
    feature_repo.write_customer_stats(root, [(1, hours_ago(1), 20.0, 5)])
    feature_repo.write_merchant_risk(root, [("m1", hours_ago(2), 0.3)])
    now = datetime.now(UTC)
    services.materializer.materialize(tenant, None, now - timedelta(days=2), now)
    register_feature_model(traced)

    body = [{"customer_id": 1, "merchant_id": "m1", "amount": 60.0}] * 3
    response = traced.client.post("/v1/predict/fraud", headers=traced.headers(), json=body)
    assert response.status_code == 200, response.text
    spans = by_name(traced.finished())
    features = spans["features"]
    assert dict(features.attributes) == {
        "ailayer.features.service": "fraud",
        "ailayer.features.refs": 1,
        "ailayer.features.entities": 3,
        "ailayer.features.online_store": "sqlite",
        "ailayer.features.missing": 0,
    }
    assert features.parent.span_id == spans["POST /v1/predict/{endpoint}"].context.span_id
    assert features.end_time <= spans["model.predict"].start_time


def test_a_failed_feature_lookup_marks_its_span(traced) -> None:  # type: ignore[no-untyped-def]
    traced.services.features.apply(traced.tenant_id, "test", feature_repo.REPO)
    register_feature_model(traced)

    body = {"customer_id": 99, "merchant_id": "m1", "amount": 60.0}  # nothing materialized
    response = traced.client.post("/v1/predict/fraud", headers=traced.headers(), json=body)
    assert response.status_code == 422
    spans = by_name(traced.finished())
    assert spans["features"].status.status_code == StatusCode.ERROR
    assert spans["features"].events[0].name == "exception"
    assert "model.predict" not in spans
    assert spans["POST /v1/predict/{endpoint}"].attributes["http.response.status_code"] == 422


def hours_ago(hours: float) -> float:
    return (datetime.now(UTC) - feature_repo.T0) / timedelta(hours=1) - hours


def register_feature_model(traced: Traced) -> None:
    estimator = LogisticRegression().fit([[0.0, 0, 0, 0], [50.0, 9, 1, 5]], [0, 1])
    signature = {"inputs": [{"name": n, "type": "double"} for n in FEATURE_INPUTS]}
    model = type("M", (), {"artifact": sio.dumps(estimator), "signature": signature})()
    form = upload_form(model, aliases=["champion"], feature_refs=["fraud"])
    response = traced.client.post("/v1/models/fraud/versions", headers=traced.headers(), **form)
    assert response.status_code == 201, response.text
    traced.spans.clear()


# --- joining the caller's trace ------------------------------------------------------------


def test_an_incoming_traceparent_is_continued(traced) -> None:  # type: ignore[no-untyped-def]
    register_fraud(traced)
    incoming = f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"
    response = traced.client.post(
        "/v1/predict/fraud", headers=traced.headers(traceparent=incoming), json=GOOD
    )
    assert response.status_code == 200
    spans = traced.finished()
    server = server_span(spans)
    assert server.parent is not None and server.parent.is_remote
    assert f"{server.parent.span_id:016x}" == CALLER_SPAN
    assert {f"{s.context.trace_id:032x}" for s in spans} == {CALLER_TRACE}
    assert response.headers["traceparent"].startswith(f"00-{CALLER_TRACE}-")
    assert response.headers["traceparent"] != incoming  # names ailayer's span, not the caller's


@pytest.mark.parametrize("bad", ["junk", f"00-{'0' * 32}-{CALLER_SPAN}-01", "00-xyz-abc-01"])
def test_a_malformed_traceparent_starts_a_new_trace(traced, bad) -> None:  # type: ignore[no-untyped-def]
    response = traced.client.get("/v1/models", headers=traced.headers(traceparent=bad))
    assert response.status_code == 200
    server = server_span(traced.finished())
    assert server.parent is None
    assert server.context.trace_id not in (0, int(CALLER_TRACE, 16))


def test_sampling_keeps_the_callers_decision(make_settings) -> None:  # type: ignore[no-untyped-def]
    services = build(make_settings())
    made = traced_app(services, sample_ratio=0.0)
    try:
        fresh = made.client.get("/v1/models", headers=made.headers())
        assert fresh.status_code == 200
        assert made.finished() == []  # ratio 0: a new trace is not recorded
        assert int(fresh.headers["traceparent"][-2:], 16) & 1 == 0  # named, not sampled
        sampled = f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"
        made.client.get("/v1/models", headers=made.headers(traceparent=sampled))
        assert f"{server_span(made.finished()).context.trace_id:032x}" == CALLER_TRACE
    finally:
        made.client.close()
        services.close()


# --- what spans never carry -----------------------------------------------------------------


def test_no_key_or_secret_appears_in_any_span(traced) -> None:  # type: ignore[no-untyped-def]
    register_fraud(traced)
    secret = traced.key.split("_", 2)[2]  # ail_<prefix>_<secret>; secrets may contain "_"
    wrong = traced.key[:-4] + "XXXX"
    traced.client.post("/v1/predict/fraud", headers=traced.headers(), json=GOOD)
    traced.client.post("/v1/predict/fraud", headers={"X-API-Key": traced.key}, json=GOOD)
    refused = traced.client.post(
        "/v1/predict/fraud", headers={"Authorization": f"Bearer {wrong}"}, json=GOOD
    )
    assert refused.status_code == 401

    spans = traced.finished()
    assert len([s for s in spans if s.kind == SpanKind.SERVER]) == 3
    assert any(s.name == "auth" and s.status.status_code == StatusCode.ERROR for s in spans)
    text = " ".join(everything_recorded(s) for s in spans)
    for needle in (traced.key, secret, wrong, wrong[-12:], "Bearer"):
        assert needle not in text


def everything_recorded(span: ReadableSpan) -> str:
    parts = [span.name, *map(str, span.attributes.items())]
    parts += [str(dict(span.resource.attributes))]
    for event in span.events:
        parts += [event.name, *map(str, event.attributes.items())]
    return " ".join(parts)


# --- tracing off ----------------------------------------------------------------------------


def test_tracing_none_records_nothing_and_installs_nothing(api) -> None:  # type: ignore[no-untyped-def]
    assert api.services.settings.tracing == "none"
    app = api.client.app
    assert app.state.tracing is TRACING_OFF is api.services.predictor.tracing
    assert not TRACING_OFF.enabled and TRACING_OFF.provider is None
    assert all(m.cls is not TracingMiddleware for m in app.user_middleware)
    with TRACING_OFF.span("anything") as span:
        assert span is None
    assert TRACING_OFF.current_span() is None

    assert api.register("fraud", aliases=["champion"]).status_code == 201
    response = api.client.post(
        "/v1/predict/fraud",
        headers={**api.headers("service"), "traceparent": f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"},
        json=GOOD,
    )
    assert response.status_code == 200
    assert "traceparent" not in response.headers


# --- settings -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("yaml", "field"),
    [
        ("tracing: jaeger\n", "tracing"),
        ("tracing_endpoint: grpc://collector:4317\n", "tracing_endpoint"),
        ("tracing_sample_ratio: 1.5\n", "tracing_sample_ratio"),
    ],
)
def test_bad_tracing_settings_name_the_field(monkeypatch, tmp_path, yaml, field) -> None:  # type: ignore[no-untyped-def]
    config = tmp_path / "ailayer.yaml"
    config.write_text(yaml)
    monkeypatch.setenv("AILAYER_CONFIG", str(config))
    with pytest.raises(ValidationError) as caught:
        load_settings()
    [error] = caught.value.errors()
    assert error["loc"] == (field,)


def test_the_cli_reports_a_bad_tracing_setting_in_one_line(monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from click.testing import CliRunner

    from ailayer.cli.main import cli

    monkeypatch.setenv("AILAYER_TRACING", "zipkin")
    monkeypatch.setenv("AILAYER_HOME", str(tmp_path / "home"))
    result = CliRunner().invoke(cli, ["models", "list"])
    assert result.exit_code == 1
    assert "invalid setting tracing: Input should be 'none', 'console' or 'otlp'" in result.output


def test_console_and_otlp_settings_build_a_provider(make_settings) -> None:  # type: ignore[no-untyped-def]
    assert open_tracing(make_settings()) is TRACING_OFF
    for kind in ("console", "otlp"):
        tracing = open_tracing(make_settings(tracing=kind, tracing_sample_ratio=0.25))
        try:
            assert tracing.enabled
            sampler = tracing.provider.sampler
            assert "TraceIdRatioBased{0.25}" in sampler.get_description()
        finally:
            tracing.shutdown()


# --- OTLP over HTTP to a real receiver -----------------------------------------------------


class _Receiver(BaseHTTPRequestHandler):
    bodies: list[tuple[str, str, bytes]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.bodies.append((self.path, self.headers["Content-Type"], body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, list]]:
    handler = type("Receiver", (_Receiver,), {"bodies": []})
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/v1/traces", handler.bodies
    server.shutdown()
    server.server_close()
    thread.join()


def test_otlp_sends_the_request_spans_to_the_endpoint(make_settings, receiver) -> None:  # type: ignore[no-untyped-def]
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    url, bodies = receiver
    services = build(make_settings(tracing="otlp", tracing_endpoint=url))
    tenant = services.keys.create_tenant("acme")
    key = services.keys.create_key(tenant, "admin-key", "admin").key
    try:
        with TestClient(create_app(services)) as client:  # lifespan: shutdown flushes
            answer = client.get("/v1/models", headers={"Authorization": f"Bearer {key}"})
            assert answer.status_code == 200
    finally:
        services.close()

    assert bodies, "the exporter sent nothing"
    names, services_seen = set(), set()
    for path, content_type, body in bodies:
        assert (path, content_type) == ("/v1/traces", "application/x-protobuf")
        request = ExportTraceServiceRequest.FromString(body)
        for resource_spans in request.resource_spans:
            attributes = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            services_seen.add(attributes["service.name"])
            for scope_spans in resource_spans.scope_spans:
                names.update(span.name for span in scope_spans.spans)
    assert services_seen == {"ailayer"}
    assert {"GET /v1/models", "auth"} <= names
