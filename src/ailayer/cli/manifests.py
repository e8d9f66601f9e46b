"""``ailayer manifests render``: Kubernetes manifests for each role, from a values file.

No Helm binary is needed: the values file (YAML) is checked by a pydantic model (a wrong
type or an unknown key is refused with the field named) and the manifests are built as
Python dicts, written as YAML, one file per object. Secrets are never values: the pods
read them from Secrets that already exist in the cluster (``envFrom`` / ``secretKeyRef``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import click
import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from ailayer import __version__

DNS_LABEL = r"^[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?$"
ENV_NAME = r"^[A-Z_][A-Z0-9_]*$"
SETTING_NAME = r"^[a-z][a-z0-9_]*$"
HTTP_PORT, WORKER_PORT, METRICS_PORT = 8000, 8101, 9464
USER_ID = 10001  # the image's non-root user (Dockerfile)
SECRET_WORDS = ("secret", "password", "token", "api_key")
GATEWAY_LATENCY = "ailayer_http_request_duration_seconds_p99"  # prometheus-adapter rules
WORKER_LATENCY = "ailayer_model_worker_request_duration_seconds_p99"  # (docs/deploy.md)


class _Values(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class SecretRef(_Values):
    """One key of an existing Secret."""

    name: Annotated[str, Field(pattern=r"^[a-z0-9][-a-z0-9.]*$")]
    key: Annotated[str, Field(min_length=1)]


class Image(_Values):
    repository: str = "ailayer"
    tag: str = __version__
    pull_policy: Annotated[str, Field(pattern="^(Always|IfNotPresent|Never)$")] = "IfNotPresent"


class Resources(_Values):
    requests: dict[str, str] = {"cpu": "250m", "memory": "512Mi"}
    limits: dict[str, str] = {"memory": "2Gi"}


class Autoscaling(_Values):
    """CPU, and p99 latency as a Pods metric served by the Prometheus adapter."""

    min_replicas: Annotated[int, Field(ge=1)] = 2
    max_replicas: Annotated[int, Field(ge=1)] = 10
    cpu_percent: Annotated[int, Field(ge=1, le=100)] = 70
    latency_p99_ms: Annotated[int, Field(ge=1)] | None = 250

    @model_validator(mode="after")
    def _bounds(self) -> Autoscaling:
        if self.min_replicas > self.max_replicas:
            raise ValueError("min_replicas: above max_replicas")
        return self


class Role(_Values):
    enabled: bool = False
    replicas: Annotated[int, Field(ge=0)] = 1
    resources: Resources = Resources()
    autoscaling: Autoscaling | None = None


class ApiRole(Role):
    enabled: bool = True  # the default install: `api: {replicas: 2}` keeps it on


class Consumer(_Values):
    """An event consumer scaled by KEDA on the lag of its consumer group: ``consume``
    (a handler), ``infer`` (async inference for an endpoint) or ``stream`` (stream
    feature views, whose windows live in one process: at most one replica)."""

    name: Annotated[str, Field(pattern=DNS_LABEL)]
    kind: Literal["consume", "infer", "stream"]
    topic: Annotated[str, Field(min_length=1)]
    group: Annotated[str, Field(min_length=1)]  # what the command prints or names
    handler: str = ""  # consume: package.module:function
    endpoint: str = ""  # infer
    views: list[str] = []  # stream
    api_key: SecretRef | None = None  # infer, stream: a key of the tenant (predict / features)
    idempotency: str = ""  # consume, infer: a store every replica shares (redis://...)
    min_replicas: Annotated[int, Field(ge=0)] = 0
    max_replicas: Annotated[int, Field(ge=1)] | None = None  # stream: 1, others: 4
    lag_threshold: Annotated[int, Field(ge=1)] = 1000
    nats_monitoring: str = ""  # host:8222 of the NATS monitoring endpoint (nats:// only)
    resources: Resources = Resources()

    @model_validator(mode="after")
    def _fields_of_its_kind(self) -> Consumer:
        needed = {"consume": ["handler"], "infer": ["endpoint", "api_key"]}
        needed["stream"] = ["views", "api_key"]
        for field in needed[self.kind]:
            if not getattr(self, field):
                raise ValueError(f"{field} is required for kind {self.kind}")
        if self.max_replicas is None:
            self.max_replicas = 1 if self.kind == "stream" else 4
        if self.min_replicas > self.max_replicas:
            raise ValueError("min_replicas: above max_replicas")
        if self.kind == "stream" and self.max_replicas > 1:
            raise ValueError("max_replicas: a stream's windows live in one process: 1 at most")
        if urlsplit(self.idempotency).password:
            raise ValueError("idempotency holds a password: not in values")
        return self


class Volume(_Values):
    size: str = "5Gi"
    storage_class: str | None = None


class Values(_Values):
    """The whole values file; every field has a default (an empty file is valid)."""

    name: Annotated[str, Field(pattern=DNS_LABEL)] = "ailayer"
    namespace: Annotated[str, Field(pattern=DNS_LABEL)] | None = None
    image: Image = Image()
    settings: dict[Annotated[str, Field(pattern=SETTING_NAME)], str] = {}
    env_from_secrets: list[Annotated[str, Field(pattern=r"^[a-z0-9][-a-z0-9.]*$")]] = []
    secret_env: dict[Annotated[str, Field(pattern=ENV_NAME)], SecretRef] = {}
    home_volume: Volume | None = None
    migrations: bool = False
    api: ApiRole = ApiRole()
    gateway: Role = Role()
    worker: Role = Role()
    monitor: Role = Role()
    scheduler: Role = Role()
    consumers: list[Consumer] = []
    ingress_from_namespaces: list[str] = []  # empty: HTTP from anywhere
    metrics_from_namespaces: list[str] = ["monitoring"]

    @field_validator("settings")
    @classmethod
    def _no_literal_secrets(cls, settings: dict[str, str]) -> dict[str, str]:
        for name, value in settings.items():
            if any(word in name for word in SECRET_WORDS) or urlsplit(value).password:
                raise ValueError(
                    f"{name} holds a secret: put it in a Secret and name it in "
                    "env_from_secrets or secret_env"
                )
        return settings

    def check(self) -> Values:
        """Rules across fields, with the field named like pydantic's errors."""
        if self.gateway.enabled != self.worker.enabled:
            raise ValueError("gateway.enabled: a gateway and model workers go together")
        if self.home_volume and self.api.enabled and self.api.replicas > 1:
            raise ValueError("api.replicas: one pod at a time owns home_volume (1 at most)")
        secret = "AILAYER_MODEL_WORKER_SECRET"
        if self.worker.enabled and secret not in self.secret_env and not self.env_from_secrets:
            raise ValueError(
                f"secret_env.{secret}: model workers beyond loopback need it (a Secret's key)"
            )
        if self.consumers and self.broker() not in SCALERS:
            raise ValueError(
                "settings.event_bus: consumers need redis://, nats:// or amqp:// (KEDA "
                "scales them on its lag)"
            )
        for index, consumer in enumerate(self.consumers):
            if self.broker() == "nats" and not consumer.nats_monitoring:
                raise ValueError(f"consumers.{index}.nats_monitoring: host:port needed")
        return self

    def broker(self) -> str:
        return urlsplit(self.settings.get("event_bus", "")).scheme


def load_values(path: Path) -> Values:
    """The values of ``path``, or a ``click.ClickException`` naming the wrong field."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise click.ClickException(f"{path}: not YAML: {exc}") from None
    if raw is not None and not isinstance(raw, dict):
        raise click.ClickException(f"{path}: a mapping of values expected")
    try:
        return Values.model_validate(raw or {}).check()
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise click.ClickException(f"{path}: {field}: {first['msg']}") from None
    except ValueError as exc:
        raise click.ClickException(f"{path}: {exc}") from None


# --- building blocks --------------------------------------------------------------------


def _meta(values: Values, name: str, role: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": _labels(values, role)}
    if values.namespace:
        meta["namespace"] = values.namespace
    return meta


def _labels(values: Values, role: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "ailayer",
        "app.kubernetes.io/instance": values.name,
        "app.kubernetes.io/component": role,
        "app.kubernetes.io/version": values.image.tag,
    }


def _selector(values: Values, role: str) -> dict[str, str]:
    return {"app.kubernetes.io/instance": values.name, "app.kubernetes.io/component": role}


def _env(values: Values, extra: dict[str, SecretRef] | None = None) -> list[dict[str, Any]]:
    env: list[dict[str, Any]] = [
        {"name": "AILAYER_HOME", "value": "/data"},
        {"name": "AILAYER_HOST", "value": "0.0.0.0"},
    ]
    env += [{"name": f"AILAYER_{k.upper()}", "value": v} for k, v in values.settings.items()]
    for name, ref in {**values.secret_env, **(extra or {})}.items():
        env.append(
            {"name": name, "valueFrom": {"secretKeyRef": {"name": ref.name, "key": ref.key}}}
        )
    return env


def _container(
    values: Values, role: str, args: list[str], resources: Resources, **more: Any
) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": role,
        "image": f"{values.image.repository}:{values.image.tag}",
        "imagePullPolicy": values.image.pull_policy,
        "args": args,
        "env": _env(values, more.pop("secret_env", None)),
        "resources": resources.model_dump(),
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [
            {"name": "data", "mountPath": "/data"},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
        **more,
    }
    if values.env_from_secrets:
        container["envFrom"] = [{"secretRef": {"name": s}} for s in values.env_from_secrets]
    return container


def _pod(values: Values, role: str, container: dict[str, Any]) -> dict[str, Any]:
    home = (
        {"persistentVolumeClaim": {"claimName": f"{values.name}-home"}}
        if values.home_volume and role == "api"
        else {"emptyDir": {}}
    )
    return {
        "metadata": {"labels": _labels(values, role)},
        "spec": {
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": USER_ID,
                "runAsGroup": USER_ID,
                "fsGroup": USER_ID,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "terminationGracePeriodSeconds": 30,
            "containers": [container],
            "volumes": [{"name": "data", **home}, {"name": "tmp", "emptyDir": {}}],
        },
    }


def _deployment(values: Values, role: str, replicas: int, container: dict) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "replicas": replicas,
        "selector": {"matchLabels": _selector(values, role)},
        "template": _pod(values, role, container),
    }
    if values.home_volume and role == "api":
        spec["strategy"] = {"type": "Recreate"}  # one pod at a time owns the volume
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(values, f"{values.name}-{role}", role),
        "spec": spec,
    }


def _http_probes(port: str = "http") -> dict[str, Any]:
    def probe(path: str, period: int) -> dict[str, Any]:
        return {"httpGet": {"path": path, "port": port}, "periodSeconds": period}

    return {
        "startupProbe": {**probe("/healthz", 5), "failureThreshold": 60},
        "livenessProbe": probe("/healthz", 10),
        "readinessProbe": probe("/readyz", 5),
    }


def _tcp_probes(port: str) -> dict[str, Any]:
    return {
        "readinessProbe": {"tcpSocket": {"port": port}, "periodSeconds": 5},
        "livenessProbe": {"tcpSocket": {"port": port}, "periodSeconds": 10},
    }


def _ports(*named: tuple[str, int]) -> list[dict[str, Any]]:
    return [{"name": n, "containerPort": p, "protocol": "TCP"} for n, p in named]


def _service(values: Values, role: str, *named: tuple[str, int]) -> dict[str, Any]:
    ports = [{"name": n, "port": p, "targetPort": n, "protocol": "TCP"} for n, p in named]
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(values, f"{values.name}-{role}", role),
        "spec": {"selector": _selector(values, role), "ports": ports},
    }


# --- roles --------------------------------------------------------------------------------

SERVE = ["serve", "--port", str(HTTP_PORT), "--metrics-listen", f"0.0.0.0:{METRICS_PORT}"]


def _role_args(values: Values, role: str) -> list[str]:
    if role == "api":
        return SERVE
    if role == "gateway":
        return [
            *SERVE,
            "--role",
            "gateway",
            "--model-worker",
            f"{values.name}-worker:{WORKER_PORT}",
        ]
    if role == "worker":
        return [
            "serve", "--role", "worker", "--host", "0.0.0.0", "--port", str(WORKER_PORT),
            "--metrics-listen", f"0.0.0.0:{METRICS_PORT}",
        ]  # fmt: skip
    return [role, "--metrics-port", str(METRICS_PORT)]  # monitor, scheduler: health there


def _role_manifests(values: Values, role: str, spec: Role) -> list[dict[str, Any]]:
    extra: dict[str, Any] = {}
    if role in ("api", "gateway"):
        extra = {"ports": _ports(("http", HTTP_PORT), ("metrics", METRICS_PORT)), **_http_probes()}
    elif role == "worker":
        extra = {"ports": _ports(("model", WORKER_PORT), ("metrics", METRICS_PORT))}
        extra |= _tcp_probes("model")
    else:  # monitor, scheduler: /healthz and /readyz beside their metrics
        extra = {"ports": _ports(("metrics", METRICS_PORT)), **_http_probes("metrics")}
    container = _container(values, role, _role_args(values, role), spec.resources, **extra)
    replicas = spec.autoscaling.min_replicas if spec.autoscaling else spec.replicas
    out = [_deployment(values, role, replicas, container)]
    if role in ("api", "gateway"):
        out.append(_service(values, role, ("http", HTTP_PORT), ("metrics", METRICS_PORT)))
    if role == "worker":
        out.append(_service(values, role, ("model", WORKER_PORT), ("metrics", METRICS_PORT)))
    if role in ("api", "gateway", "worker"):
        out.append(_disruption_budget(values, role))
    if spec.autoscaling and role in ("gateway", "worker"):
        out.append(_autoscaler(values, role, spec.autoscaling))
    return out


def _disruption_budget(values: Values, role: str) -> dict[str, Any]:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": _meta(values, f"{values.name}-{role}", role),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": _selector(values, role)}},
    }


def _autoscaler(values: Values, role: str, scaling: Autoscaling) -> dict[str, Any]:
    metrics: list[dict[str, Any]] = [
        {
            "type": "Resource",
            "resource": {
                "name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": scaling.cpu_percent},
            },
        }
    ]
    if scaling.latency_p99_ms is not None:
        metric = GATEWAY_LATENCY if role == "gateway" else WORKER_LATENCY
        target = {"type": "AverageValue", "averageValue": f"{scaling.latency_p99_ms}m"}
        metrics.append({"type": "Pods", "pods": {"metric": {"name": metric}, "target": target}})
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": _meta(values, f"{values.name}-{role}", role),
        "spec": {
            "scaleTargetRef": {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": f"{values.name}-{role}",
            },
            "minReplicas": scaling.min_replicas,
            "maxReplicas": scaling.max_replicas,
            "metrics": metrics,
        },
    }


# --- streams and KEDA ---------------------------------------------------------------------

SCALERS = {"redis": "redis-streams", "nats": "nats-jetstream", "amqp": "rabbitmq"}


def _consumer_args(consumer: Consumer) -> list[str]:
    if consumer.kind == "consume":
        args = ["consume", consumer.group, "--topic", consumer.topic]
        args += ["--handler", consumer.handler]
    elif consumer.kind == "infer":
        args = ["infer", consumer.endpoint, "--topic", consumer.topic, "--group", consumer.group]
    else:
        args = ["stream", "run", *consumer.views]
    if consumer.idempotency:
        args += ["--idempotency", consumer.idempotency]
    return [*args, "--metrics-port", str(METRICS_PORT)]


def _consumer_manifests(values: Values, consumer: Consumer) -> list[dict[str, Any]]:
    role = f"{consumer.kind}-{consumer.name}"
    key = {"AILAYER_API_KEY": consumer.api_key} if consumer.api_key else {}
    container = _container(
        values,
        consumer.kind,
        _consumer_args(consumer),
        consumer.resources,
        secret_env=key,
        ports=_ports(("metrics", METRICS_PORT)),
        **_tcp_probes("metrics"),
    )
    deployment = _deployment(values, role, consumer.min_replicas, container)
    return [deployment, _scaled_object(values, consumer, role)]


def _trigger(values: Values, consumer: Consumer) -> dict[str, Any]:
    """The KEDA trigger reading the lag of the consumer's group, named as the bus names it
    (docs/events.md): Redis ``ailayer:{topic}``, NATS ``ailayer_<topic>``, RabbitMQ
    ``ailayer.<topic>.<group>``."""
    broker = values.broker()
    lag = str(consumer.lag_threshold)
    if broker == "redis":
        url = urlsplit(values.settings["event_bus"])
        metadata = {
            "address": f"{url.hostname}:{url.port or 6379}",
            "databaseIndex": url.path.strip("/") or "0", "stream": f"ailayer:{consumer.topic}",
            "consumerGroup": consumer.group, "lagCount": lag,
        }  # fmt: skip
    elif broker == "nats":
        metadata = {
            "natsServerMonitoringEndpoint": consumer.nats_monitoring, "account": "$G",
            "stream": f"ailayer_{consumer.topic}", "consumer": consumer.group, "lagThreshold": lag,
        }  # fmt: skip
    else:
        metadata = {
            "protocol": "amqp", "hostFromEnv": "AILAYER_EVENT_BUS", "mode": "QueueLength",
            "queueName": f"ailayer.{consumer.topic}.{consumer.group}", "value": lag,
        }  # fmt: skip
    return {"type": SCALERS[broker], "metadata": metadata}


def _scaled_object(values: Values, consumer: Consumer, role: str) -> dict[str, Any]:
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": _meta(values, f"{values.name}-{role}", role),
        "spec": {
            "scaleTargetRef": {"name": f"{values.name}-{role}"},
            "minReplicaCount": consumer.min_replicas,
            "maxReplicaCount": consumer.max_replicas,
            "pollingInterval": 15,
            "cooldownPeriod": 300,
            "triggers": [_trigger(values, consumer)],
        },
    }


# --- the rest -----------------------------------------------------------------------------


def _migrations(values: Values) -> dict[str, Any]:
    """``ailayer db upgrade`` before the roles roll (run it as a deploy step, or a hook)."""
    container = _container(values, "migrations", ["db", "upgrade"], Resources())
    pod = _pod(values, "migrations", container)
    pod["spec"]["restartPolicy"] = "Never"
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": _meta(values, f"{values.name}-migrations-{values.image.tag}", "migrations"),
        "spec": {"backoffLimit": 3, "ttlSecondsAfterFinished": 86400, "template": pod},
    }


def _home_claim(values: Values, volume: Volume) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": volume.size}},
    }
    if volume.storage_class:
        spec["storageClassName"] = volume.storage_class
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": _meta(values, f"{values.name}-home", "api"),
        "spec": spec,
    }


def _namespaces(names: list[str]) -> list[dict[str, Any]]:
    key = "kubernetes.io/metadata.name"
    return [{"namespaceSelector": {"matchLabels": {key: n}}} for n in names]


def _network_policy(values: Values) -> dict[str, Any]:
    """Ingress only where a role listens: HTTP (from the given namespaces, or anywhere),
    model workers from gateways only, /metrics from the monitoring namespaces."""

    def port(n: int) -> list[dict[str, Any]]:
        return [{"protocol": "TCP", "port": n}]

    http: dict[str, Any] = {"ports": port(HTTP_PORT)}
    if values.ingress_from_namespaces:
        http["from"] = _namespaces(values.ingress_from_namespaces)
    gateways = {"podSelector": {"matchLabels": _selector(values, "gateway")}}
    rules = [
        http,
        {"from": [gateways], "ports": port(WORKER_PORT)},
        {"from": _namespaces(values.metrics_from_namespaces), "ports": port(METRICS_PORT)},
    ]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _meta(values, values.name, "network"),
        "spec": {
            "podSelector": {"matchLabels": {"app.kubernetes.io/instance": values.name}},
            "policyTypes": ["Ingress"],
            "ingress": rules,
        },
    }


ROLES = ("api", "gateway", "worker", "monitor", "scheduler")


def render(values: Values) -> list[dict[str, Any]]:
    """Every manifest of ``values``, in the order ``kubectl apply`` should meet them."""
    out: list[dict[str, Any]] = []
    if values.home_volume:
        out.append(_home_claim(values, values.home_volume))
    if values.migrations:
        out.append(_migrations(values))
    for role in ROLES:
        spec: Role = getattr(values, role)
        if spec.enabled:
            out += _role_manifests(values, role, spec)
    for consumer in values.consumers:
        out += _consumer_manifests(values, consumer)
    out.append(_network_policy(values))
    return out


def write(manifests: list[dict[str, Any]], out: Path) -> list[Path]:
    """One ``NN-kind-name.yaml`` per manifest under ``out`` (created)."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for index, manifest in enumerate(manifests):
        name = f"{index:02d}-{manifest['kind'].lower()}-{manifest['metadata']['name']}.yaml"
        path = out / name
        path.write_text(yaml.safe_dump(manifest, sort_keys=False), encoding="utf-8")
        written.append(path)
    return written


@click.group("manifests")
def manifests_group() -> None:
    """Kubernetes manifests of each role (docs/deploy.md, "Kubernetes")."""


@manifests_group.command("render")
@click.option(
    "--values",
    "values_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="Values file (YAML), e.g. deploy/values/production.yaml.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Directory for one file per manifest (default: all to stdout, as one stream).",
)
def render_command(values_path: Path, out: Path | None) -> None:
    """Render the manifests of VALUES; a wrong value is refused with its field named.

    Operator: works offline on the values file alone (no settings, no API, no cluster);
    apply the output with `kubectl apply -f`.
    """
    manifests = render(load_values(values_path))
    if out is None:
        click.echo(yaml.safe_dump_all(manifests, sort_keys=False), nl=False)
        return
    for path in write(manifests, out):
        click.echo(str(path))
