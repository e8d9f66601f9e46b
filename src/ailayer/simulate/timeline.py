"""Time inside the simulation: integer seconds since ``config.start``.

Integers keep sorting, windows and determinism exact; conversion to timestamps happens
once, when the DataFrames are built.
"""

from __future__ import annotations

import math

import numpy as np

from ailayer.simulate.config import SimulationConfig

HOUR = 3_600
DAY = 86_400


def span(config: SimulationConfig) -> int:
    """Length of the simulated window in seconds; every ``t`` lies in ``[0, span)``."""
    return config.days * DAY


def drift_t(config: SimulationConfig) -> int:
    """First second affected by drift, or ``span`` (never) when there is no drift."""
    if config.drift_start is None:
        return span(config)
    return math.ceil((config.drift_start - config.start).total_seconds())


def _start_second_of_day(config: SimulationConfig) -> int:
    start = config.start
    return start.hour * HOUR + start.minute * 60 + start.second


def sample_days(
    rng: np.random.Generator, n: int, config: SimulationConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Draw a day of the window and a second within the hour: the parts of a time
    that do not depend on the daily rhythm."""
    return rng.integers(0, config.days, size=n), rng.integers(0, HOUR, size=n)


def place(
    day: np.ndarray, hour: np.ndarray, second: np.ndarray, config: SimulationConfig
) -> np.ndarray:
    """Seconds since start for a (day, UTC hour, second) triple.

    Times are laid out from midnight and wrapped into the window; since the window is a
    whole number of days, wrapping keeps the hour of day intact.
    """
    since_midnight = day * DAY + hour * HOUR + second
    return (since_midnight - _start_second_of_day(config)) % span(config)


def sample_times(
    rng: np.random.Generator, n: int, hour_weights: np.ndarray, config: SimulationConfig
) -> np.ndarray:
    """Draw ``n`` times spread evenly over the days, with a daily rhythm given per UTC hour."""
    day, second = sample_days(rng, n, config)
    return place(day, rng.choice(24, size=n, p=hour_weights), second, config)


def hour_of_day(t: np.ndarray, config: SimulationConfig) -> np.ndarray:
    """The UTC hour (0-23) of each time."""
    return ((t + _start_second_of_day(config)) // HOUR) % 24


def count_previous(group: np.ndarray, t: np.ndarray, window: int, horizon: int) -> np.ndarray:
    """For each row, how many earlier rows of the same group fall in ``(t - window, t]``.

    "Earlier" means earlier in array order, so rows must be in time order. Set-based:
    one sort and one binary search instead of a loop per row. ``horizon`` bounds ``t``.
    """
    n = len(t)
    order = np.lexsort((t, group))  # stable: ties keep array order
    key = group[order].astype(np.int64) * (horizon + window + 1) + t[order]
    first = np.searchsorted(key, key - window, side="right")
    counts = np.empty(n, dtype=np.int64)
    counts[order] = np.arange(n) - first
    return counts
