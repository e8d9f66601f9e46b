"""The manifests of each role, built as plain dicts from checked values, in the order
``kubectl apply`` should meet them, and written as YAML one file per object."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from ailayer.kubernetes.values import (
    SCALERS,
    Autoscaling,
    Consumer,
    Resources,
    Role,
    SecretRef,
    Values,
    Volume,
)

HTTP_PORT, WORKER_PORT, METRICS_PORT = 8000, 8101, 9464
USER_ID = 10001  # the image's non-root user (Dockerfile)
GATEWAY_LATENCY = "ailayer_http_request_duration_seconds_p99"  # prometheus-adapter rules
WORKER_LATENCY = "ailayer_model_worker_request_duration_seconds_p99"  # (docs/deploy.md)


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
