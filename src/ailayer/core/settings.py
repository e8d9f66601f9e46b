"""Settings, read in one place: defaults < ``ailayer.yaml`` < ``AILAYER_*`` environment.

The embedded defaults keep everything under ``.ailayer/`` in the working directory, so a
laptop needs no configuration at all. Each backend is chosen by the scheme of its URL.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from ailayer.core.errors import InvalidInput
from ailayer.core.hosts import parse_host_rule
from ailayer.core.limits import Limits
from ailayer.core.names import check_bus_name
from ailayer.core.prices import DEFAULT_PRICES, check_prices
from ailayer.core.retention import Retention

DEFAULT_HOME = ".ailayer"
DEFAULT_CONFIG_FILE = "ailayer.yaml"
DEFAULT_MAX_BODY_BYTES = 1_048_576
DEFAULT_MODEL_CACHE_BYTES = 1 << 30  # 1 GiB of loaded models per serving process


def _config_file() -> str:
    return os.environ.get("AILAYER_CONFIG", DEFAULT_CONFIG_FILE)


class Settings(BaseSettings):
    """Where ailayer keeps its state and how its server behaves."""

    model_config = SettingsConfigDict(env_prefix="AILAYER_", extra="forbid")

    home: Path = Field(default=Path(DEFAULT_HOME), description="Directory for embedded state.")
    metadata_url: str = ""
    online_store: str = ""
    offline_store: str = ""
    artifacts: str = ""
    event_bus: str = ""
    host: str = "127.0.0.1"
    port: int = 8000
    max_body_bytes: int = Field(default=DEFAULT_MAX_BODY_BYTES, gt=0)
    alias_refresh_seconds: float = Field(default=1.0, gt=0)
    auth_cache_seconds: float = Field(default=2.0, ge=0)
    shadow_queue_size: int = Field(
        default=1000,
        ge=1,
        description="Shadow copies waiting per server process; beyond it copies are dropped "
        "and counted (live answers never wait for shadows).",
    )
    model_cache_bytes: int = Field(
        default=DEFAULT_MODEL_CACHE_BYTES,
        gt=0,
        description="Memory budget of a serving process's loaded models, as measured at "
        "load (object graph, or RSS growth for native runtimes); least recently used models "
        "are evicted beyond it and reloaded on their next request.",
    )
    micro_batching: bool = Field(
        default=True,
        description="Run concurrent small requests to one model version as one model call "
        "(see docs/serving.md for the measured trade-off).",
    )
    micro_batch_max_rows: int = Field(
        default=64, gt=0, description="Rows at which a micro-batch runs without waiting."
    )
    micro_batch_max_wait_ms: float = Field(
        default=0.0,
        ge=0,
        le=1000,
        description="How long a busy model's micro-batch waits for more requests; 0: it "
        "takes the requests that reach it in one turn of the event loop (measured best).",
    )
    model_workers: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="host:port of model worker processes (`ailayer serve --role worker`). Set: "
        "this server is a gateway and hands every model call to them (docs/serving.md).",
    )
    model_worker_secret: SecretStr | None = Field(
        default=None,
        description="Shared secret a gateway presents to its model workers; required for a "
        "worker listening beyond loopback. Never logged.",
    )
    model_worker_timeout_seconds: float = Field(
        default=30.0, gt=0, description="How long a gateway waits for a worker's answer."
    )
    model_worker_retry_seconds: float = Field(
        default=2.0,
        gt=0,
        description="How long a gateway leaves out a worker it lost before trying it again.",
    )
    provider_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Hosts `provider` models may call: api.openai.com, *.example.com "
        "(subdomains), 127.0.0.1:8080 (only that port). Empty: no provider can be "
        "registered or served (docs/security.md).",
    )
    feature_repo: str = Field(
        default="", description="Python file, folder or module with feature definitions."
    )
    allow_external_feature_paths: bool = Field(
        default=False,
        description="Let Parquet sources point outside the tenant's offline store folder.",
    )
    log_flush_seconds: float = Field(
        default=1.0,
        gt=0,
        description="How often the prediction log writes part files (longer: fewer, larger "
        "files); a local journal keeps what is answered in between.",
    )
    log_process: bool = Field(
        default=True,
        description="Encode and write the prediction log in a child process of each serving "
        "process, off its CPU (docs/monitoring.md); false: in a thread of the server.",
    )
    metrics_per_tenant: bool = Field(
        default=False,
        description="Label /metrics request, model-load and drift series by tenant (tenant data).",
    )
    metrics_listen: str = Field(
        default="",
        description="host:port of an extra /metrics listener without a key, showing every "
        "tenant's series (for the operator's Prometheus; keep it private). Empty: none.",
    )
    monitor_interval_seconds: float = Field(
        default=60.0,
        ge=0,
        description="How often alert rules are evaluated; 0 turns off the monitor of `up`.",
    )
    rollout_interval_seconds: float = Field(
        default=5.0,
        ge=0,
        description="How often the rollout controller judges active canaries; 0 turns off "
        "the controller of `up` (`ailayer controller` runs it as its own process).",
    )
    alert_topic: str = Field(
        default="alerts", description="Bus topic of ailayer.alert.fired/resolved events."
    )
    dead_letter_topics: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Dead-letter topics a data subject request searches besides the stream "
        "views' (`<topic>-dlq`): those of `ailayer events run` consumers and async inference "
        "(docs/governance.md).",
    )
    outbox_spools: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Outbox spool files (globs allowed: /var/lib/app/outbox-*.db) that a data "
        "subject request searches: the producers' `Outbox` spools (docs/governance.md).",
    )
    scheduler_interval_seconds: float = Field(
        default=15.0,
        ge=0,
        description="How often the pipeline scheduler checks schedules and new data; 0 "
        "turns off the scheduler of `up` (`ailayer scheduler` runs it as its own process).",
    )
    rollup_interval_seconds: float = Field(
        default=30.0,
        ge=0,
        description="How often new prediction log parts are folded into the per-5-minute "
        "rollups the console reads; 0 turns the rollup of `up` and `monitor` off.",
    )
    secret_key: SecretStr | None = Field(
        default=None,
        description="Encrypts secrets kept at rest (webhook secrets); the same on every "
        "replica. Unset: a key generated in <home>/secret.key.",
    )
    alert_webhooks_allow_private: bool = Field(
        default=False,
        description="Let alert webhooks point at loopback/private addresses (laptops, tests).",
    )
    ui_session_seconds: float = Field(
        default=8 * 3600.0,
        gt=0,
        le=30 * 86400,
        description="How long a web console session lasts after sign-in (/ui); a revoked "
        "or expired key, or an expired token, ends it sooner.",
    )
    console_topics: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Bus topics the console's events page watches, each with the consumer "
        'groups whose lag it shows, e.g. {"payments": ["fraud"]}; on RabbitMQ a data subject '
        "request also reads those groups' queues (docs/governance.md).",
    )
    oidc_issuer: str = Field(
        default="",
        description="Accept bearer JWTs from this OIDC issuer (its `iss`); empty: keys only. "
        "Needs oidc_audience and oidc_jwks_url.",
    )
    oidc_audience: str = Field(default="", description="The `aud` a token must carry.")
    oidc_jwks_url: str = Field(
        default="",
        description="The issuer's JWKS document: https://, or http:// on loopback only.",
    )
    oidc_leeway_seconds: float = Field(
        default=60.0, ge=0, le=600, description="Clock skew allowed on `exp` and `nbf`."
    )
    oidc_tenant_claim: str = Field(default="tenant", min_length=1)
    oidc_team_claim: str = Field(default="team", min_length=1)
    oidc_role_claim: str = Field(default="role", min_length=1)
    oidc_jwks_cache_seconds: float = Field(
        default=3600.0, gt=0, description="How long the issuer's keys are kept."
    )
    oidc_jwks_refresh_seconds: float = Field(
        default=30.0,
        ge=0,
        description="At most one JWKS fetch per this many seconds for unknown `kid`s.",
    )
    batch_engine: Literal["duckdb", "spark"] = Field(
        default="duckdb",
        description="What runs batch work (training sets, materialization, `ailayer score`): "
        "DuckDB in this process, or Apache Spark at `spark_master` (the `spark` extra; "
        "docs/batch.md).",
    )
    spark_master: str = Field(
        default="local[*]",
        description="Spark master URL when batch_engine is spark: local[N], "
        "spark://host:7077, k8s://https://host:443, yarn.",
    )
    spark_timeout_seconds: float = Field(
        default=60.0,
        gt=0,
        description="How long to wait for the Spark master and its first executors before "
        "batch work fails with an error naming spark_master (never a hang).",
    )
    spark_conf: dict[str, str] = Field(
        default_factory=dict,
        description="Extra Spark configuration (a JSON object in AILAYER_SPARK_CONF), e.g. "
        "executor memory or spark.hadoop.fs.s3a.* for an offline store on S3.",
    )
    tracing: Literal["none", "console", "otlp"] = Field(
        default="none", description="Where OpenTelemetry spans go: nowhere, stdout or OTLP."
    )
    tracing_endpoint: str = Field(
        default="",
        description="OTLP/HTTP traces URL; empty: the exporter's default "
        "(OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, else http://localhost:4318/v1/traces).",
    )
    tracing_sample_ratio: float = Field(
        default=1.0, ge=0, le=1, description="Share of new traces recorded (callers' kept)."
    )
    limits: Limits = Field(
        default_factory=Limits,
        description="Per-tenant request rates (token buckets, here or in Redis) and quotas "
        "on models, feature views, stored bytes and events a day (docs/governance.md).",
    )
    retention: Retention = Field(
        default_factory=Retention,
        description="Days the prediction log, feedback, stream events and training sets "
        "are kept, years of audit trail (docs/governance.md); unset: for ever.",
    )

    # cost accounting (docs/deploy.md, "Cost")
    prices: dict[str, Any] = Field(
        default_factory=lambda: dict(DEFAULT_PRICES),
        description="The price of one unit of each resource (core/prices.py lists them and "
        "their defaults); a table must price every resource.",
    )
    cost_flush_seconds: float = Field(
        default=60.0,
        gt=0,
        le=3600,
        description="How often a serving process writes its measured usage (CPU seconds, "
        "model memory, events) to the metadata database.",
    )

    @field_validator("prices")
    @classmethod
    def _prices(cls, value: Any) -> dict[str, float]:
        return check_prices(value)

    @field_validator("metadata_url", "artifacts", "online_store", "offline_store", "event_bus")
    @classmethod
    def _strip(cls, value: str) -> str:
        return value.strip()

    @field_validator("spark_master")
    @classmethod
    def _spark_master(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("must be a Spark master URL, e.g. local[2] or spark://host:7077")
        return value

    @field_validator("metrics_listen")
    @classmethod
    def _host_and_port(cls, value: str) -> str:
        value = value.strip()
        if value:
            listen_address(value)
        return value

    @field_validator("model_workers", mode="before")
    @classmethod
    def _worker_addresses(cls, value: Any) -> Any:
        return string_list(value, listen_address, "host:port")

    @field_validator("dead_letter_topics", mode="before")
    @classmethod
    def _dead_letter_topics(cls, value: Any) -> Any:
        return string_list(value, _bus_name, "topic")

    @field_validator("outbox_spools", mode="before")
    @classmethod
    def _spool_paths(cls, value: Any) -> Any:
        return string_list(value, _path_pattern, "path")

    @field_validator("provider_hosts", mode="before")
    @classmethod
    def _provider_hosts(cls, value: Any) -> Any:
        return string_list(value, parse_host_rule, "host[:port]")

    @field_validator("tracing_endpoint")
    @classmethod
    def _http_url(cls, value: str) -> str:
        value = value.strip()
        if value and urlsplit(value).scheme not in ("http", "https"):
            raise ValueError("must be an http:// or https:// URL (OTLP over HTTP)")
        return value

    @field_validator("oidc_jwks_url")
    @classmethod
    def _jwks_url(cls, value: str) -> str:
        value = value.strip()
        if value:
            check_jwks_url(value)
        return value

    @model_validator(mode="after")
    def _oidc_complete(self) -> Settings:
        if self.oidc_issuer and not (self.oidc_audience and self.oidc_jwks_url):
            missing = "oidc_audience" if not self.oidc_audience else "oidc_jwks_url"
            raise ValueError(f"oidc_issuer is set, so {missing} must be set too")
        return self

    def model_post_init(self, __context: Any) -> None:
        # Absolute from here on: a serving process leaves the working directory for a
        # scratch one (models run there), and every store must still be found.
        home = self.home.expanduser().absolute()
        object.__setattr__(self, "home", home)
        defaults = {
            "metadata_url": f"sqlite:///{home / 'meta.db'}",
            "online_store": f"sqlite:///{home / 'online.db'}",
            "offline_store": f"file://{home / 'offline'}",
            "artifacts": f"file://{home / 'artifacts'}",
            "event_bus": f"embedded://{home / 'bus.db'}",
        }
        for name, url in defaults.items():
            url = getattr(self, name) or url
            object.__setattr__(self, name, absolute_local_url(url))

    @property
    def credentials_path(self) -> Path:
        return self.home / "credentials"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        yaml_source = YamlConfigSettingsSource(settings_cls, yaml_file=_config_file())
        return (init_settings, env_settings, yaml_source)


LOCAL_URL_PREFIXES = ("sqlite:///", "file://", "embedded://")


def absolute_local_url(url: str) -> str:
    """``url`` with a relative local path made absolute against the working directory;
    other URLs unchanged (``sqlite:///rel.db`` → ``sqlite:////cwd/rel.db``)."""
    for prefix in LOCAL_URL_PREFIXES:
        if url.startswith(prefix):
            path = url.removeprefix(prefix)
            if path and not path.startswith("/") and ":" not in path.split("/")[0]:
                return prefix + str(Path(path).expanduser().absolute())
            return url
    return url


def load_settings(**overrides: Any) -> Settings:
    """Read settings now (not at import time), with explicit overrides winning."""
    return Settings(**overrides)


def string_list(value: Any, check: Callable[[str], object], shape: str) -> Any:
    """A list setting as a variable or a flag gives it (a JSON list, or comma-separated),
    its entries stripped and each passed to ``check`` (which raises ``ValueError``)."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except ValueError:
                raise ValueError(f"must be a JSON list of {shape} strings") from None
        else:
            value = [part for part in text.split(",") if part.strip()] if text else []
    if isinstance(value, list):
        value = [part.strip() if isinstance(part, str) else part for part in value]
        for part in value:
            if isinstance(part, str):
                check(part)
    return value


def _path_pattern(value: str) -> str:
    if not value:
        raise ValueError("must be a file path or glob pattern")
    return value


def _bus_name(value: str) -> str:
    try:
        return check_bus_name("dead_letter_topics", value)
    except InvalidInput as exc:
        raise ValueError(str(exc)) from None


def listen_address(value: str) -> tuple[str, int]:
    """``host:port`` (``[::1]:9464`` for IPv6) as a (host, port) pair to bind."""
    host, _, port = value.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"must be host:port, e.g. 127.0.0.1:9464; got {value!r}")
    return host, int(port)


def redacted(url: str) -> str:
    """A URL safe to print: any password replaced by ``***``."""
    parsed = urlsplit(url)
    if parsed.password is None:
        return url
    netloc = parsed.netloc.replace(f":{parsed.password}@", ":***@", 1)
    return urlunsplit(parsed._replace(netloc=netloc))


LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})


def check_jwks_url(value: str) -> None:
    """https, or http to this machine only: the keys that decide who is who must not
    travel in clear text."""
    parsed = urlsplit(value)
    if parsed.scheme == "https" and parsed.hostname:
        return
    if parsed.scheme == "http" and parsed.hostname in LOOPBACK_HOSTS:
        return
    raise ValueError(f"must be an https:// URL (http:// only on loopback); got {value!r}")
