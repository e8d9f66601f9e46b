"""Per-tenant limits as settings: request rates (token buckets) and quotas, with overrides.

Set under ``limits`` in ``ailayer.yaml`` (or ``AILAYER_LIMITS`` as JSON). A value of
``None`` means no limit; every tenant gets the defaults unless ``tenants`` names it (by
tenant name or id), and an override replaces only the fields it sets (a rate set without
its burst gets one second's worth, not the default's burst).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

QUOTAS = ("max_models", "max_feature_views", "max_stored_bytes", "max_events_per_day")


class TenantLimits(BaseModel):
    """The limits of one tenant; a field left ``None`` takes the default."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rate_per_second: float | None = Field(default=None, gt=0)
    burst: float | None = Field(default=None, ge=1)
    key_rate_per_second: float | None = Field(default=None, gt=0)
    key_burst: float | None = Field(default=None, ge=1)
    max_models: int | None = Field(default=None, ge=0)
    max_feature_views: int | None = Field(default=None, ge=0)
    max_stored_bytes: int | None = Field(default=None, ge=0)
    max_events_per_day: int | None = Field(default=None, ge=0)


class Limits(TenantLimits):
    """The defaults for every tenant, the overrides, and where rate buckets live.

    ``store``: empty for buckets in each server process (a replica limits on its own), or
    ``redis://host:port/db`` for buckets shared by every replica."""

    store: str = ""
    tenants: dict[str, TenantLimits] = Field(default_factory=dict)

    @field_validator("store")
    @classmethod
    def _store(cls, value: str) -> str:
        value = value.strip()
        if value and not value.startswith(("redis://", "rediss://")):
            raise ValueError("must be empty (buckets in each process) or a redis:// URL")
        return value

    def of(self, *names: str) -> TenantLimits:
        """The limits of a tenant known by ``names`` (its name, its id): the first
        override found over the defaults."""
        base = self.model_dump(exclude={"store", "tenants"})
        for name in names:
            override = self.tenants.get(name)
            if override is not None:
                chosen = override.model_dump(exclude_none=True)
                for rate, burst in (
                    ("rate_per_second", "burst"),
                    ("key_rate_per_second", "key_burst"),
                ):
                    if rate in chosen:  # a new rate without a burst: one second's worth
                        chosen.setdefault(burst, None)
                base.update(chosen)
                break
        return TenantLimits(**base)

    @property
    def rates_on(self) -> bool:
        """Does any tenant have a request rate? Off: the request path checks nothing."""
        rules = [self, *self.tenants.values()]
        return any(r.rate_per_second or r.key_rate_per_second for r in rules)
