"""The knobs of a simulation, checked once so that generation code can trust them."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from numbers import Integral, Real

DEFAULT_START = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class SimulationConfig:
    """Everything that decides the simulated data; equal configs give equal data.

    ``drift_start`` must be set whenever a drift knob (``amount_shift``,
    ``new_country_share``, ``fraud_pattern_shift``) is; before it, data never drifts.
    """

    seed: int = 0
    n_accounts: int = 200
    users_per_account: float = 5.0
    n_payments: int = 20_000
    start: datetime = DEFAULT_START
    days: int = 30
    fraud_rate: float = 0.02
    label_delay_days: float = 7.0
    drift_start: datetime | None = None
    amount_shift: float = 0.0
    new_country_share: float = 0.0
    fraud_pattern_shift: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", _as_utc("start", self.start))
        if self.drift_start is not None:
            object.__setattr__(self, "drift_start", _as_utc("drift_start", self.drift_start))
        self.validate()

    @property
    def end(self) -> datetime:
        """The first instant after the simulated window (exclusive)."""
        return self.start + timedelta(days=self.days)

    @property
    def has_drift(self) -> bool:
        """True when any drift knob asks for a change after ``drift_start``."""
        return self.amount_shift != 0 or self.new_country_share > 0 or self.fraud_pattern_shift

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first knob that is out of range."""
        _check_int("seed", self.seed, minimum=0)
        _check_int("n_accounts", self.n_accounts, minimum=1)
        _check_int("n_payments", self.n_payments, minimum=0)
        _check_int("days", self.days, minimum=1)
        _check_float("users_per_account", self.users_per_account, ">= 1", lambda v: v >= 1)
        _check_float("fraud_rate", self.fraud_rate, "in [0, 1]", lambda v: 0 <= v <= 1)
        _check_float("label_delay_days", self.label_delay_days, ">= 0", lambda v: v >= 0)
        _check_float("amount_shift", self.amount_shift, "> -1", lambda v: v > -1)
        _check_float("new_country_share", self.new_country_share, "in [0, 1]", _unit)
        if not isinstance(self.fraud_pattern_shift, bool):
            raise ValueError(
                f"fraud_pattern_shift: expected a bool, got {self.fraud_pattern_shift!r}"
            )
        self._validate_drift_start()

    def _validate_drift_start(self) -> None:
        if self.drift_start is None:
            if self.has_drift:
                raise ValueError(
                    "drift_start: expected a datetime when amount_shift, new_country_share "
                    "or fraud_pattern_shift is set"
                )
            return
        if not self.start <= self.drift_start < self.end:
            raise ValueError(
                f"drift_start: expected a time in [start, start + days) = "
                f"[{self.start.isoformat()}, {self.end.isoformat()}), "
                f"got {self.drift_start.isoformat()}"
            )


def _unit(value: float) -> bool:
    return 0 <= value <= 1


def _as_utc(name: str, value: object) -> datetime:
    if not isinstance(value, datetime):
        raise ValueError(f"{name}: expected a timezone-aware datetime, got {value!r}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name}: expected a timezone-aware datetime (UTC), got naive {value}")
    return value.astimezone(UTC)


def _check_int(name: str, value: object, *, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise ValueError(f"{name}: expected an int >= {minimum}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name}: expected an int >= {minimum}, got {value}")


def _check_float(name: str, value: object, expectation: str, ok: Callable[[float], bool]) -> None:
    if isinstance(value, bool) or not isinstance(value, Real):
        raise ValueError(f"{name}: expected a number {expectation}, got {value!r}")
    if not math.isfinite(value) or not ok(value):
        raise ValueError(f"{name}: expected a number {expectation}, got {value}")
