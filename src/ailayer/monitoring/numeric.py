"""Float arithmetic that cannot overflow, for statistics over any finite floats.

A logged input can be any float64 a JSON number allows, up to ±1.8e308. Sums, squares
and differences of such values overflow to inf (and inf - inf is NaN), so monitoring
computes on values scaled by a power of two, which is exact (only the exponent moves),
and scales results back, capped to the float range. On ordinary data every result is
bit for bit what the unscaled formula gives.
"""

from __future__ import annotations

import math
import sys

import numpy as np

FLOAT_MAX = sys.float_info.max
# Magnitudes above this are a data-quality finding: no measurement is that large (a
# nanosecond timestamp is 1e18), and near 1.3e154 a value's square stops being a float.
OUT_OF_RANGE = 1e150


def exponent(*magnitudes: float) -> int:
    """An ``e`` with |m| / 2**e < 1 for every finite m given (0 when all are 0)."""
    top = max((abs(float(m)) for m in magnitudes if math.isfinite(m)), default=0.0)
    return math.frexp(top)[1] if top > 0 else 0


def scaled(values: np.ndarray, e: int) -> np.ndarray:
    """``values / 2**e``, exactly (tiny values next to huge ones may underflow to 0)."""
    return np.ldexp(np.asarray(values, dtype=float), -e)


def unscaled(values: np.ndarray | float, e: int) -> np.ndarray:
    """``values * 2**e``, capped to ±``FLOAT_MAX`` instead of overflowing to inf."""
    with np.errstate(over="ignore"):
        return np.clip(np.ldexp(values, e), -FLOAT_MAX, FLOAT_MAX)


def capped(value: float) -> float:
    """``value`` within ±``FLOAT_MAX``: an overflowed inf becomes the largest float."""
    return float(np.clip(value, -FLOAT_MAX, FLOAT_MAX))


def ratio(numerator: float, denominator: float) -> float:
    """``numerator / denominator`` for a positive denominator, capped like ``capped``."""
    with np.errstate(over="ignore"):
        return capped(np.float64(numerator) / np.float64(denominator))


def moments(values: np.ndarray, weights: np.ndarray | None = None) -> tuple[float, float]:
    """Mean and population standard deviation (``np.std``, ddof 0) of finite floats."""
    values = np.asarray(values, dtype=float)
    if len(values) == 0:
        return 0.0, 0.0
    e = exponent(float(np.abs(values).max()))
    x = scaled(values, e)
    mean = float(np.clip(np.average(x, weights=weights), x.min(), x.max()))
    variance = float(np.average(np.square(x - mean), weights=weights))
    return float(unscaled(mean, e)), float(unscaled(math.sqrt(variance), e))


def merged_moments(a: tuple[int, float, float], b: tuple[int, float, float]) -> tuple[float, float]:
    """Mean and population std of two samples' union from (count, mean, std) of each.

    Chan et al.'s parallel update, on scaled values and in terms of the standard
    deviation, which (unlike the sum of squared deviations) is always a float.
    """
    (n_a, mean_a, std_a), (n_b, mean_b, std_b) = a, b
    if n_a == 0 or n_b == 0:
        return (mean_b, std_b) if n_a == 0 else (mean_a, std_a)
    e = exponent(mean_a, mean_b, std_a, std_b)
    ma, mb, sa, sb = (float(v) for v in scaled(np.array([mean_a, mean_b, std_a, std_b]), e))
    share_a, share_b = n_a / (n_a + n_b), n_b / (n_a + n_b)
    delta = mb - ma
    mean = min(max(ma + delta * share_b, min(ma, mb)), max(ma, mb))
    variance = share_a * sa * sa + share_b * sb * sb + share_a * share_b * delta * delta
    return float(unscaled(mean, e)), float(unscaled(math.sqrt(variance), e))
