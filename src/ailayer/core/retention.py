"""How long each store keeps what it holds, as settings (``retention`` in ``ailayer.yaml``
or ``AILAYER_RETENTION`` as JSON). Unset: kept for ever. Zero is refused: a store that
keeps nothing is a mistake, not a policy."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

DAY_FIELDS = ("prediction_log_days", "feedback_days", "events_days", "datasets_days")


class Retention(BaseModel):
    """``datasets_keep``: the newest saved training sets kept per tenant; with
    ``datasets_days`` too, a set goes when either says so. A training set a model version
    names (its lineage) is always kept. ``events_days``: stream views' raw event logs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    prediction_log_days: int | None = None
    feedback_days: int | None = None
    events_days: int | None = None
    datasets_keep: int | None = None
    datasets_days: int | None = None
    audit_years: int | None = None
    interval_seconds: float = Field(
        default=3600.0,
        ge=0,
        description="How often `ailayer up` and `ailayer monitor` enforce it; 0: never.",
    )

    @field_validator(*DAY_FIELDS, "datasets_keep", "audit_years")
    @classmethod
    def _positive(cls, value: int | None) -> int | None:
        if value is not None and value < 1:
            raise ValueError(f"must be at least 1 (got {value}); leave it unset to keep everything")
        return value

    @property
    def on(self) -> bool:
        fields = (*DAY_FIELDS, "datasets_keep", "audit_years")
        return any(getattr(self, name) is not None for name in fields)
