"""``ailayer manifests render``: every manifest of both shipped values files passes the
Kubernetes schemas of the current release (kubernetes-validate, offline, strict); KEDA
ScaledObjects, a CRD kind those schemas do not hold, pass a schema of their own below."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import jsonschema
import kubernetes_validate
import pytest
import yaml

from ailayer.cli.main import cli
from ailayer.kubernetes.manifests import render
from ailayer.kubernetes.values import SCALERS, Values, load_values
from tests.support.cli import assert_one_clear_error, ok, run

VALUES = Path(__file__).resolve().parents[2] / "deploy" / "values"
KUBERNETES = kubernetes_validate.utils.latest_version()
CRD_KINDS = {("keda.sh/v1alpha1", "ScaledObject")}

# The fields of a ScaledObject ailayer writes and KEDA requires (keda.sh/v1alpha1), and the
# metadata each of the three scalers needs to find the lag (keda.sh/docs/scalers).
SCALER_METADATA = {
    "redis-streams": ["address", "stream", "consumerGroup", "lagCount"],
    "nats-jetstream": [
        "natsServerMonitoringEndpoint",
        "account",
        "stream",
        "consumer",
        "lagThreshold",
    ],
    "rabbitmq": ["protocol", "hostFromEnv", "mode", "queueName", "value"],
}
STRINGS = {"type": "object", "additionalProperties": {"type": "string"}}
SCALED_OBJECT = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "metadata": {"type": "object", "required": ["name"]},
        "spec": {
            "type": "object",
            "required": ["scaleTargetRef", "minReplicaCount", "maxReplicaCount", "triggers"],
            "additionalProperties": False,
            "properties": {
                "scaleTargetRef": {
                    "type": "object", "required": ["name"], "additionalProperties": False,
                    "properties": {"name": {"type": "string"}},
                },
                "minReplicaCount": {"type": "integer", "minimum": 0},
                "maxReplicaCount": {"type": "integer", "minimum": 1},
                "pollingInterval": {"type": "integer", "minimum": 1},
                "cooldownPeriod": {"type": "integer", "minimum": 0},
                "triggers": {
                    "type": "array", "minItems": 1,
                    "items": {
                        "type": "object", "required": ["type", "metadata"],
                        "properties": {"type": {"enum": list(SCALER_METADATA)}, "metadata": STRINGS},
                    },
                },
            },
        },
    },
}  # fmt: skip


CONSUMER = """settings: {event_bus: "redis://r:6379/0"}
consumers:
  - name: s
    kind: stream
    views: [v]
    topic: t
    group: g
    api_key: {name: k, key: k}
"""


def check(manifest: dict[str, Any]) -> None:
    """A Kubernetes kind against the release's schema; a CRD kind against ours."""
    if (manifest["apiVersion"], manifest["kind"]) in CRD_KINDS:
        jsonschema.validate(manifest, SCALED_OBJECT)
        for trigger in manifest["spec"]["triggers"]:
            assert set(SCALER_METADATA[trigger["type"]]) <= set(trigger["metadata"])
        return
    kubernetes_validate.validate(manifest, KUBERNETES, strict=True)


def rendered(name: str, tmp_path: Path) -> list[dict[str, Any]]:
    """The manifests the command writes for ``deploy/values/NAME``, read back from disk."""
    out = tmp_path / "out"
    ok("manifests", "render", "--values", str(VALUES / name), "--out", str(out))
    return [yaml.safe_load(p.read_text()) for p in sorted(out.glob("*.yaml"))]


@pytest.mark.parametrize("name", ["default.yaml", "production.yaml"])
def test_shipped_values_render_valid_manifests(name: str, tmp_path: Path) -> None:
    manifests = rendered(name, tmp_path)
    assert manifests
    for manifest in manifests:
        check(manifest)


def test_production_has_every_piece(tmp_path: Path) -> None:
    by_kind: dict[str, list[str]] = {}
    for manifest in rendered("production.yaml", tmp_path):
        by_kind.setdefault(manifest["kind"], []).append(manifest["metadata"]["name"])
    assert by_kind["Deployment"] == [
        "ailayer-gateway", "ailayer-worker", "ailayer-monitor", "ailayer-scheduler",
        "ailayer-stream-payments-stats", "ailayer-infer-payments-scores",
    ]  # fmt: skip
    assert by_kind["HorizontalPodAutoscaler"] == ["ailayer-gateway", "ailayer-worker"]
    assert by_kind["PodDisruptionBudget"] == ["ailayer-gateway", "ailayer-worker"]
    assert by_kind["Service"] == ["ailayer-gateway", "ailayer-worker"]
    assert by_kind["Job"] == ["ailayer-migrations-0.1.0"]
    assert by_kind["ScaledObject"] == [
        "ailayer-stream-payments-stats",
        "ailayer-infer-payments-scores",
    ]
    assert by_kind["NetworkPolicy"] == ["ailayer"]


def _by(manifests: list[dict], kind: str, name: str) -> dict:
    return next(m for m in manifests if m["kind"] == kind and m["metadata"]["name"] == name)


def test_roles_run_the_real_commands_with_probes_and_no_literal_secret() -> None:
    manifests = render(load_values(VALUES / "production.yaml"))
    containers = {
        m["metadata"]["name"]: m["spec"]["template"]["spec"]["containers"][0]
        for m in manifests
        if m["kind"] in ("Deployment", "Job")
    }
    gateway = containers["ailayer-gateway"]
    assert gateway["args"][:1] == ["serve"] and "--role" in gateway["args"]
    assert gateway["args"][gateway["args"].index("--model-worker") + 1] == "ailayer-worker:8101"
    assert gateway["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert gateway["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert containers["ailayer-migrations-0.1.0"]["args"] == ["db", "upgrade"]
    for role in ("monitor", "scheduler"):
        container = containers[f"ailayer-{role}"]
        assert container["args"] == [role, "--metrics-port", "9464"]
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
        assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert containers["ailayer-stream-payments-stats"]["args"][:3] == [
        "stream", "run", "payments_stats",
    ]  # fmt: skip
    infer = containers["ailayer-infer-payments-scores"]
    assert infer["args"][:2] == ["infer", "fraud"]
    assert "--idempotency" in infer["args"]
    key = {e["name"]: e for e in infer["env"]}["AILAYER_API_KEY"]
    assert key["valueFrom"]["secretKeyRef"] == {"name": "ailayer-infer-key", "key": "api-key"}
    env = {e["name"]: e for e in gateway["env"]}
    assert env["AILAYER_METADATA_URL"]["valueFrom"]["secretKeyRef"] == {
        "name": "ailayer-db", "key": "url",
    }  # fmt: skip
    assert gateway["envFrom"] == [{"secretRef": {"name": "ailayer-aws"}}]
    latency = _by(manifests, "HorizontalPodAutoscaler", "ailayer-gateway")["spec"]["metrics"][1]
    assert latency["pods"]["metric"]["name"] == "ailayer_http_request_duration_seconds_p99"
    assert latency["pods"]["target"]["averageValue"] == "250m"


@pytest.mark.parametrize(
    ("bus", "scaler", "name"),
    [
        ("redis://redis.data.svc:6379/0", "redis-streams", "ailayer:payments"),
        ("nats://nats.data.svc:4222", "nats-jetstream", "ailayer_payments"),
        ("amqp://rabbit.data.svc:5672/", "rabbitmq", "ailayer.payments.g1"),
    ],
)
def test_each_broker_gets_its_keda_scaler(bus: str, scaler: str, name: str, tmp_path: Path) -> None:
    values = yaml.safe_load((VALUES / "production.yaml").read_text())
    values["settings"]["event_bus"] = bus
    values["consumers"][0]["group"] = "g1"
    path = tmp_path / "values.yaml"
    path.write_text(yaml.safe_dump(values))
    manifests = render(load_values(path))
    scaled = _by(manifests, "ScaledObject", "ailayer-stream-payments-stats")
    check(scaled)
    trigger = scaled["spec"]["triggers"][0]
    assert trigger["type"] == scaler == SCALERS[bus.split(":")[0]]
    assert name in trigger["metadata"].values()


def test_an_empty_values_file_is_the_embedded_default(tmp_path: Path) -> None:
    path = tmp_path / "values.yaml"
    path.write_text("")
    manifests = render(load_values(path))
    assert [m["kind"] for m in manifests] == [
        "Deployment", "Service", "PodDisruptionBudget", "NetworkPolicy",
    ]  # fmt: skip
    for manifest in manifests:
        check(manifest)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("gateway:\n  autoscaling:\n    max_replicas: ten\n", "gateway.autoscaling.max_replicas"),
        ("api:\n  replicas: '2'\n", "api.replicas"),
        ("settings:\n  port: 8000\n", "settings.port"),
        ("replicas: 3\n", "replicas: Extra inputs are not permitted"),
        ("settings:\n  metadata_url: postgresql://u:hunter2@db/x\n", "metadata_url holds a secret"),
        ("gateway:\n  enabled: true\n", "gateway.enabled"),
        ("home_volume: {size: 1Gi}\napi: {replicas: 2}\n", "api.replicas: one pod"),
        ("gateway:\n  autoscaling: {min_replicas: 5, max_replicas: 2}\n", "min_replicas: above"),
        ("worker:\n  enabled: true\ngateway:\n  enabled: true\n", "AILAYER_MODEL_WORKER_SECRET"),
        (CONSUMER + "    max_replicas: 3\n", "consumers.0: Value error, max_replicas"),
        (CONSUMER.replace("api_key", "#"), "consumers.0: Value error, api_key is required"),
        (CONSUMER.replace("redis", "embedded"), "settings.event_bus"),
        ("- a list\n", "a mapping of values expected"),
    ],
)
def test_a_bad_values_file_is_refused_naming_the_field(
    text: str, words: str, tmp_path: Path
) -> None:
    path = tmp_path / "values.yaml"
    path.write_text(text)
    result = run("manifests", "render", "--values", str(path), "--out", str(tmp_path / "out"))
    assert_one_clear_error(result, 1, words)
    assert "hunter2" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_the_checks_refuse_a_misspelt_field() -> None:
    """The validation above can fail: strict schemas refuse a field Kubernetes lacks."""
    manifests = render(load_values(VALUES / "production.yaml"))
    deployment = _by(manifests, "Deployment", "ailayer-gateway")
    deployment["spec"]["replica"] = 2
    with pytest.raises(kubernetes_validate.ValidationError):
        check(deployment)
    scaled = _by(manifests, "ScaledObject", "ailayer-stream-payments-stats")
    del scaled["spec"]["triggers"][0]["metadata"]["stream"]
    with pytest.raises(AssertionError):
        check(scaled)


def parses(args: list[str]) -> click.Context:
    """``ailayer ARGS`` parsed by the real commands (options, choices), not run."""
    command: click.Command = cli
    context = cli.make_context("ailayer", list(args), resilient_parsing=False)
    while isinstance(command, click.Group) and context.protected_args:
        words = [*context.protected_args, *context.args]
        _, command, rest = command.resolve_command(context, words)
        context = command.make_context(words[0], rest, parent=context)
    return context


def test_every_container_runs_a_command_ailayer_has() -> None:
    values = yaml.safe_load((VALUES / "production.yaml").read_text())
    values["consumers"].append(
        {"name": "h", "kind": "consume", "topic": "t", "group": "g", "handler": "m:f",
         "nats_monitoring": "n:8222"}
    )  # fmt: skip
    manifests = render(Values.model_validate(values).check())
    args = [
        m["spec"]["template"]["spec"]["containers"][0]["args"]
        for m in manifests
        if m["kind"] in ("Deployment", "Job")
    ]
    assert len(args) == 8
    for each in args:
        context = parses(each)
        assert context.command.name == each[0] or context.command.name in each, each
    with pytest.raises(click.UsageError):
        parses(["serve", "--role", "api"])


def test_the_api_role_stays_on_when_only_its_replicas_are_given(tmp_path: Path) -> None:
    path = tmp_path / "values.yaml"
    path.write_text("api:\n  replicas: 2\n")
    deployment = _by(render(load_values(path)), "Deployment", "ailayer-api")
    assert deployment["spec"]["replicas"] == 2


def test_without_out_the_manifests_go_to_stdout_as_one_stream() -> None:
    result = ok("manifests", "render", "--values", str(VALUES / "production.yaml"))
    streamed = list(yaml.safe_load_all(result.stdout))
    assert streamed == render(load_values(VALUES / "production.yaml"))
