"""Request and response shapes of the HTTP API (they are also its OpenAPI schemas)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, model_validator

from ailayer.core.names import NAME_REGEX, NAME_RULE
from ailayer.core.public import artifact_uri
from ailayer.governance.key_rules import MAX_OVERLAP_SECONDS
from ailayer.governance.roles import Role
from ailayer.monitoring.alerting.rules import DETECTORS, KINDS, OPS, WINDOWS


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PredictionExplanation(BaseModel):
    expected_value: float = Field(description="The baseline; plus the attributions = output")
    attributions: dict[str, float]
    method: str = Field(description="tree (exact), linear (exact) or permutation (estimate)")
    output: str = Field(
        description="What the attributions add up to: raw (log-odds, or a regressor's "
        "value) or probability (the positive-class score)"
    )
    background: str | None = Field(None, description="log, zeros, or none for trees")


class Prediction(BaseModel):
    prediction_id: str
    prediction: Any
    score: float | None = Field(None, description="Positive-class or top-class probability")
    probabilities: dict[str, float] | None = None
    features: dict[str, Any] | None = Field(None, description="With ?explain_features=true")
    explanation: PredictionExplanation | None = Field(None, description="With ?explain=true")
    model: str | None = Field(None, description="Only when the request spans variants")
    version: int | None = Field(None, description="Only when the request spans variants")
    variant: str | None = Field(None, description="Only when the request spans variants")
    served_by: str | None = Field(
        None, description="Provider models: provider, or fallback when its fallback answered"
    )


class PredictResponse(BaseModel):
    endpoint: str
    model: str | None = Field(None, description="Absent when the request spans variants")
    version: int | None = Field(None, description="Absent when the request spans variants")
    alias: str | None = Field(
        None, description="The alias, or the deployment's variant; absent when spanning variants"
    )
    predictions: list[Prediction] | None = Field(None, description="Absent with ?columns=true")
    columns: dict[str, list[Any]] | None = Field(
        None,
        description=(
            "With ?columns=true, instead of predictions: each prediction field "
            "(prediction_id, prediction, score, ...) mapped to its values in the records' order"
        ),
    )


PREDICT_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "oneOf": [
                    {"type": "object", "description": "One record: field → value"},
                    {"type": "array", "items": {"type": "object"}, "minItems": 1},
                    {
                        "type": "object",
                        "properties": {
                            "records": {"type": "array", "items": {"type": "object"}, "minItems": 1}
                        },
                        "required": ["records"],
                    },
                ]
            },
            "example": {"amount": 120.5, "card_age_days": 3.0},
        }
    },
}


class Field_(BaseModel):
    name: str
    type: str


class SignatureSchema(BaseModel):
    inputs: list[Field_]
    outputs: list[Field_] = []


class VersionMetadata(Strict):
    """The JSON ``metadata`` part of a version upload."""

    flavor: str = Field(
        description="sklearn (skops file), lightgbm (model text), xgboost (JSON or UBJSON), "
        "onnx, pytorch (exported to ONNX) or provider (a JSON config of an external API)"
    )
    signature: SignatureSchema
    params: dict[str, Any] = {}
    metrics: dict[str, float] = {}
    tags: dict[str, str] = {}
    description: str = ""
    dataset_version: str | None = None
    feature_refs: list[str] = []
    code_version: str | None = None
    pipeline_run: str | None = None
    aliases: list[str] = Field([], description="Aliases to point at the new version")
    compile: StrictBool = Field(
        True, description="Compile to ONNX, kept only if equal to the original within 1e-6"
    )


class CompilationOut(BaseModel):
    """How registration compiled the version (models/compile): kept only when equal."""

    compiled: bool
    runtime: str | None = None
    converter: str | None = None
    max_abs_diff: float | None = Field(
        None, description="Largest absolute difference from the original on the sample"
    )
    tolerance: float
    sample_rows: int
    sample: str
    reason: str | None = Field(None, description="Why the original serves, when not compiled")
    seconds: float | None = None
    artifact_sha256: str | None = Field(None, description="The compiled ONNX artifact")
    artifact_size: int | None = None


class ServingIn(Strict):
    compiled: StrictBool = Field(description="true: serve the compiled form; false: the original")


class ModelVersionOut(BaseModel):
    model: str
    version: int
    flavor: str
    artifact_uri: str = Field(
        description="The artifact, named by content (artifacts://sha256/<hex>), never by "
        "where the server stores it"
    )
    artifact_sha256: str
    artifact_size: int
    signature: SignatureSchema
    params: dict[str, Any]
    metrics: dict[str, float]
    tags: dict[str, str]
    description: str
    dataset_version: str | None
    feature_refs: list[str]
    code_version: str | None
    pipeline_run: str | None
    archived: bool
    aliases: list[str]
    created_at: datetime
    created_by: str | None
    compilation: CompilationOut | None = None
    serve_compiled: bool = Field(
        True, description="The switch; the compiled form serves only if it was kept"
    )
    serves_compiled: bool = Field(False, description="What serving loads now")

    @model_validator(mode="before")
    @classmethod
    def _artifact_by_content(cls, data: Any) -> Any:
        if isinstance(data, dict) and "artifact_sha256" in data:
            return {**data, "artifact_uri": artifact_uri(data["artifact_sha256"])}
        return data


class QuantizeIn(Strict):
    holdout: list[Any] | None = Field(
        None,
        description="Records with the model's inputs and the truth in the field named by "
        "label; accuracy is compared on them (at most 100,000)",
    )
    label: str | None = Field(None, description="The holdout records' truth field")


class QuantizedOut(BaseModel):
    version: ModelVersionOut = Field(description="The new version (flavor onnx)")
    source: str = Field(description="What was quantized: the version's file or a conversion")
    deltas: dict[str, float | None] = Field(
        description="float32_/quantized_bytes and size_ratio; original_ (the form serving "
        "now) and quantized_ p50/p99 ms and batch µs per row, and their ratios; agreement "
        "and max_score_difference on a validation sample; with a holdout, both accuracies "
        "and accuracy_delta"
    )


class ModelSummary(BaseModel):
    name: str
    description: str
    tags: dict[str, str]
    latest_version: int
    archived: bool
    aliases: dict[str, int]
    created_at: datetime
    updated_at: datetime


class ModelDetail(ModelSummary):
    versions: list[ModelVersionOut]


class AliasIn(Strict):
    version: int = Field(gt=0)


class AliasOut(BaseModel):
    model: str
    alias: str
    version: int


class AuditEntry(BaseModel):
    actor: str
    action: str
    target: str
    detail: dict[str, Any]
    at: datetime
    request_id: str | None = None
    source: str | None = None
    seq: int
    hash: str


class EndpointIn(Strict):
    model: str = Field(pattern=NAME_REGEX, max_length=100, description=NAME_RULE)
    alias: str = Field("champion", pattern=NAME_REGEX, max_length=100, description=NAME_RULE)


class EndpointOut(BaseModel):
    name: str
    model: str
    alias: str


class KeyIn(Strict):
    name: str = Field(pattern=NAME_REGEX, max_length=100, description=NAME_RULE)
    role: Role
    expires_at: datetime | None = Field(
        None, description="When the key stops working (ISO 8601 with a zone, in the future)."
    )
    endpoints: list[Annotated[str, Field(pattern=NAME_REGEX, max_length=100)]] | None = Field(
        None,
        max_length=100,
        description="Narrow the key to these endpoints (403 for others); omit for all.",
    )
    team: str | None = Field(
        None,
        pattern=NAME_REGEX,
        max_length=100,
        description="The key's team (an existing team of the tenant): what it may change.",
    )


class KeyCreated(BaseModel):
    id: str
    key: str = Field(description="The full key. Shown once; only its hash is stored.")
    name: str
    role: Role
    tenant: str
    prefix: str
    expires_at: datetime | None = None
    endpoints: list[str] | None = None
    team: str | None = None


class KeyRotateIn(Strict):
    overlap_seconds: float = Field(
        3600,
        strict=True,  # a number: false is not 0
        ge=0,
        le=MAX_OVERLAP_SECONDS,
        description="How long the old secret keeps working (default one hour).",
    )


class KeyRotated(KeyCreated):
    old_prefix: str
    old_valid_until: datetime = Field(description="The old key is refused after this time.")


class KeyExpiryIn(Strict):
    expires_at: datetime | None = Field(description="The new expiry; null: never expires.")


class KeyExpiry(BaseModel):
    prefix: str
    expires_at: datetime | None


class KeyOut(BaseModel):
    id: str
    name: str
    prefix: str
    role: Role
    created_at: datetime
    created_by: str | None
    revoked_at: datetime | None
    expires_at: datetime | None = None
    last_used_at: datetime | None = Field(
        None, description="Last authenticated use, to within a minute."
    )
    endpoints: list[str] | None = None
    replaced_by: str | None = Field(None, description="The key a rotation replaced it with.")
    team: str | None = None


class Health(BaseModel):
    status: str
    rate_limits: dict | None = Field(
        default=None,
        description="Where request-rate buckets live (`redis`, or `local` per process); "
        "`degraded` when Redis is configured but unavailable. Absent without rate limits.",
    )


FEEDBACK_ITEM = {
    "type": "object",
    "properties": {
        "prediction_id": {"type": "string"},
        "label": {
            "type": ["number", "string", "boolean", "object"],
            "description": "The outcome; for a recommendation "
            '{"clicked": [item ids], "purchased": [item ids]}',
        },
        "time": {
            "type": ["string", "null"],
            "format": "date-time",
            "description": "When the outcome happened; missing or null: when it is received",
        },
    },
    "required": ["prediction_id", "label"],
}
FEEDBACK_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "oneOf": [FEEDBACK_ITEM, {"type": "array", "items": FEEDBACK_ITEM, "minItems": 1}]
            },
            "example": {"prediction_id": "0192f0c4a1b27d3e8f00112233445566", "label": True},
        }
    },
}


class FeedbackResult(BaseModel):
    accepted: int
    unknown: int = Field(description="Items whose prediction id is not in the log")
    unknown_ids: list[str]


class Latency(BaseModel):
    p50: float | None
    p95: float | None
    p99: float | None


class PerformanceWindow(BaseModel):
    model: str
    version: int
    window_start: datetime
    window_end: datetime
    requests: int
    predictions: int
    errors: int
    error_rate: float | None
    latency_ms: Latency
    mean_score: float | None = Field(None, description="Mean score of answered predictions")
    mean_confidence: float | None = Field(
        None, description="Mean of max(score, 1 - score): how sure a binary model was"
    )
    labelled: int
    task: str | None = Field(
        description="binary, multiclass, regression or ranking; None if unlabelled"
    )
    metrics: dict[str, Any]
    training_metrics: dict[str, Any]
    vs_training: dict[str, dict[str, float]]


class PerformanceReport(BaseModel):
    endpoint: str
    window: str
    start: datetime
    end: datetime
    windows: list[PerformanceWindow]


ALERT_RULE_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["name"],
                "properties": {
                    "name": {"type": "string", "pattern": NAME_REGEX, "maxLength": 100},
                    "kind": {"type": "string", "enum": list(KINDS)},
                    "metric": {"type": "string"},
                    "window": {"type": "string", "enum": list(WINDOWS)},
                    "op": {"type": "string", "enum": list(OPS)},
                    "threshold": {"type": "number"},
                    "for": {"type": "integer", "minimum": 1},
                    "endpoint": {"type": "string", "pattern": NAME_REGEX, "maxLength": 100},
                    "detector": {"type": "string", "enum": list(DETECTORS)},
                    "webhook_url": {"type": "string", "format": "uri"},
                    "webhook_secret": {"type": "string", "writeOnly": True, "minLength": 8},
                },
                "dependentRequired": {"webhook_secret": ["webhook_url"]},
            },
            "example": {
                "name": "confidence-drop",
                "kind": "change",
                "metric": "mean_confidence",
                "endpoint": "fraud",
                "op": "<",
                "threshold": -0.2,
            },
        }
    },
}


class AlertRuleOut(BaseModel):
    id: str
    name: str
    kind: str
    metric: str
    window: str
    op: str
    threshold: float
    for_: int
    endpoint: str | None
    detector: str
    webhook_url: str | None
    has_webhook_secret: bool
    created_at: datetime


class FiringAlert(BaseModel):
    rule: str
    kind: str | None
    endpoint: str
    model: str
    version: int
    value: float | None
    since: datetime | None


class AlertsOut(BaseModel):
    firing: list[FiringAlert]
    history: list[dict[str, Any]] = Field(
        description="Notifications, newest first: the alert payload plus delivery outcome"
    )


class ConceptVersion(BaseModel):
    model: str
    version: int
    detector: str
    labelled: int
    mean_error: float
    first: datetime
    last: datetime
    alarms: int
    first_alarm: datetime | None
    alarm_times: list[datetime] = Field(description="The latest alarms (at most 20)")
    recent_alarms: int | None
    drifting: bool | None
    reason: str | None


class ConceptReport(BaseModel):
    endpoint: str
    detector: str
    versions: list[ConceptVersion]
