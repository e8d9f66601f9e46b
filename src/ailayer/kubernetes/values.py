"""The values file of ``ailayer manifests render``: a pydantic model that refuses a wrong
type or an unknown key with the field named, and never holds a secret (the pods read
secrets from Secrets that already exist in the cluster)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

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
from ailayer.core.errors import InvalidInput

DNS_LABEL = r"^[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?$"
ENV_NAME = r"^[A-Z_][A-Z0-9_]*$"
SETTING_NAME = r"^[a-z][a-z0-9_]*$"
SECRET_WORDS = ("secret", "password", "token", "api_key")
# the event bus's URL scheme -> the KEDA scaler that reads its backlog
SCALERS = {"redis": "redis-streams", "nats": "nats-jetstream", "amqp": "rabbitmq"}


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
    """The values of ``path``, or ``InvalidInput`` naming the file and the wrong field."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise InvalidInput(f"{path}: not YAML: {exc}") from None
    if raw is not None and not isinstance(raw, dict):
        raise InvalidInput(f"{path}: a mapping of values expected")
    try:
        return Values.model_validate(raw or {}).check()
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise InvalidInput(f"{path}: {field}: {first['msg']}", field=field) from None
    except ValueError as exc:
        raise InvalidInput(f"{path}: {exc}") from None
