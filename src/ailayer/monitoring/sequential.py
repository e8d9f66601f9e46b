# ruff: noqa: RUF002, RUF003 (the docstrings use the usual Greek letters of statistics)
"""Always-valid inference for a difference of means: the mixture SPRT (mSPRT).

Why not a z-test at every look: a fixed-sample test keeps its error rate α for one look
at a sample size chosen in advance. Looked at again and again while data arrives (as a
dashboard is), "significant at some look" happens far more often than α under no effect
(about 1 in 4 with 20 looks at α = 0.05). The mSPRT gives a p-value and a confidence
interval that stay valid however often, and whenever, they are looked at.

The model (Johari, Pekelis and Walsh, "Always valid inference", 2017): outcomes of two
variants are taken in pairs, the j-th of the variant with the j-th of the control, and
the pair differences ``d`` have mean θ (the effect) and variance σ² (the sum of the two
variants' variances). After ``j`` pairs the mean difference θ̂ is ~ N(θ, V) with
V = σ²/j. Against H0: θ = 0 the test weighs every effect θ by a normal mixture
N(0, τ²); the likelihood ratio of the mixture to H0 has a closed form:

    Λ_j = sqrt(V / (V + τ²)) · exp(θ̂² τ² / (2 V (V + τ²)))

Under H0, Λ is a nonnegative martingale with mean 1, so by Ville's inequality
P(Λ_j ≥ 1/α for some j) ≤ α. Hence the always-valid p-value p = min(1, 1 / max_j Λ_j),
the running maximum over every pair count so far, and the confidence sequence: the
effects θ0 that the same test (centred on θ0) does not reject,

    |θ̂_j - θ0| < sqrt(V (V + τ²) / τ² · (2 log(1/α) + log((V + τ²) / V))),

intersected over j. With r = τ²/V both read as functions of z² = θ̂²/V and r:
log Λ = (z² r/(1 + r) - log(1 + r)) / 2, computed in logs so no value overflows.

The mixture width τ is set by the effect the experiment declares it wants to detect: the
boundary z ≥ c(r), c(r)² = (1 + 1/r)(2 log(1/α) + log(1 + r)), is lowest at one r*, and
τ = δ·sqrt(r*)/(c* + z_power) puts that lowest boundary at the sample size where an
effect δ is found with the declared power. That sample size is the standard formula
n = ((c·σ0 + z_power·σ1) / δ)² with the sequential boundary c in place of z_{1-α/2}
(solved exactly, since c depends on n): about twice the fixed-sample size, which is
the price of looking at any time.

σ² is not known: it is estimated from all pairs at the time of the look and used for
every earlier pair count too (a plug-in, exact for normal outcomes of known variance and
asymptotically valid otherwise; the simulation tests measure the error rate). Arrays
here carry a leading axis of experiments, so simulations run many at once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

LOG2 = math.log(2.0)


@dataclass(frozen=True, slots=True)
class Mixture:
    """The mixture SPRT designed for one α (already divided among comparisons), power
    and effect: its τ, and the lowest boundary c* (on the z scale) with its r*."""

    alpha: float
    power: float
    effect: float
    ratio: float  # r* = τ²/V where the boundary is lowest
    boundary: float  # c*
    spread: float  # τ / effect

    @property
    def log_tau(self) -> float:
        """log τ (τ itself overflows for an effect near the largest float)."""
        return math.log(self.effect) + math.log(self.spread)

    def c(self, r: float) -> float:
        """The z a look needs with V = τ²/r."""
        return math.sqrt(_boundary_sq(r, self.alpha))


def _boundary_sq(r: float | np.ndarray, alpha: float) -> float | np.ndarray:
    return (1.0 + 1.0 / r) * (2.0 * math.log(1.0 / alpha) + np.log1p(r))


def mixture(effect: float, alpha: float, power: float) -> Mixture:
    """The mSPRT for detecting ``effect`` with ``power`` at level ``alpha``."""
    from scipy import optimize, stats  # on first use: scipy.stats costs ~0.7 s at start-up

    found = optimize.minimize_scalar(
        lambda log_r: _boundary_sq(math.exp(log_r), alpha), bounds=(-10.0, 20.0), method="bounded"
    )
    ratio = math.exp(float(found.x))
    boundary = math.sqrt(float(found.fun))
    z_power = float(stats.norm.ppf(power))
    # A power below Φ(-c*) would put τ at or past infinity; half of c* bounds it.
    spread = math.sqrt(ratio) / max(boundary + z_power, 0.5 * boundary)
    return Mixture(alpha, power, effect, ratio, boundary, spread)


def sample_size(
    design: Mixture, sd0: float, sd1: float, cap: int, scale_exponent: int = 0
) -> int | None:
    """Pairs needed so that the final look alone rejects an effect ``design.effect`` with
    the design's power (the running maximum only adds power): the smallest n with
    δ·sqrt(n) ≥ c(τ² n / σ0²)·σ0 + z_power·σ1, where σ0 is the difference's standard
    deviation under no effect and σ1 under the effect, both in units of 2**``scale_exponent``.
    None above ``cap``, or when σ0 is 0 (no sample size follows from the data)."""
    if not sd0 > 0:
        return None
    from scipy import optimize, stats

    z_power = float(stats.norm.ppf(design.power))
    rho = sd1 / sd0
    shape = design.spread**2  # τ²/δ², unit free

    # With n = (σ0/δ)² m the condition reads sqrt(m) ≥ c(shape·m) + z_power·ρ: unit free.
    def short(log_m: float) -> float:
        m = math.exp(log_m)
        return math.sqrt(m) - design.c(shape * m) - z_power * rho

    guess = 2.0 * math.log(max(design.boundary + z_power * rho, 0.1))
    low, high = guess - 2.0, guess + 2.0
    while short(low) > 0:
        low -= 2.0
    while short(high) < 0:
        high += 2.0
    log_m = optimize.brentq(short, low, high, xtol=1e-12)
    return _pairs(2.0 * (math.log(sd0) - _log_effect(design.effect, scale_exponent)) + log_m, cap)


def fixed_sample_size(
    effect: float,
    alpha: float,
    power: float,
    sd0: float,
    sd1: float,
    cap: int,
    scale_exponent: int = 0,
) -> int | None:
    """The standard fixed-sample formula n = ((z_{1-α/2}·σ0 + z_power·σ1) / δ)², for
    one look at n (shown beside the sequential size; the verdict never uses it)."""
    from scipy import stats

    spread = stats.norm.isf(alpha / 2.0) * sd0 + stats.norm.ppf(power) * sd1
    if not sd0 > 0 or not spread > 0:
        return None
    return _pairs(2.0 * (math.log(spread) - _log_effect(effect, scale_exponent)), cap)


def _log_effect(effect: float, scale_exponent: int) -> float:
    """log(effect / 2**scale_exponent), which neither overflows nor underflows."""
    return math.log(effect) - scale_exponent * LOG2


def _pairs(log_n: float, cap: int) -> int | None:
    """ceil(exp(log_n)), at least 2; None above ``cap``."""
    if log_n > math.log(cap):
        return None
    return max(2, math.ceil(math.exp(log_n) * (1.0 - 1e-12)))


@dataclass(frozen=True, slots=True)
class Sequential:
    """Always-valid results of a batch of experiments (one entry per experiment), on the
    scale of the differences passed in. NaN where no variance was seen (p is then 1)."""

    p_value: np.ndarray
    low: np.ndarray
    high: np.ndarray


def always_valid(
    differences: np.ndarray,
    test_variance: np.ndarray,
    interval_variance: np.ndarray,
    design: Mixture,
    exponent: np.ndarray | int = 0,
) -> Sequential:
    """The mSPRT over pair differences (shape ``(experiments, pairs)``, values scaled by
    2**-``exponent`` per experiment so that they are small): the running p-value over
    every pair count, and the running intersection of the confidence sequence.

    ``test_variance`` (σ² under H0, per experiment) sets the p-value, ``interval_variance``
    (σ² where the effect is what it is) the interval; both on the scaled values.
    """
    d = np.atleast_2d(np.asarray(differences, dtype=float))
    pairs = np.arange(1, d.shape[1] + 1, dtype=float)
    theta = np.cumsum(d, axis=1) / pairs
    log_tau = design.log_tau - np.asarray(exponent, dtype=float).reshape(-1, 1) * LOG2
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        log_lr = _log_lr(theta, _col(test_variance), pairs, log_tau)
        p = np.minimum(1.0, np.exp(-np.max(log_lr, axis=1, initial=-np.inf)))
        half = _half_width(_col(interval_variance), pairs, log_tau, design.alpha)
        low = np.max(theta - half, axis=1, initial=-np.inf)
        high = np.min(theta + half, axis=1, initial=np.inf)
    empty = low > high  # the sequence missed (chance ≤ α): keep the latest interval
    low = np.where(empty, theta[:, -1] - half[:, -1] if d.shape[1] else low, low)
    high = np.where(empty, theta[:, -1] + half[:, -1] if d.shape[1] else high, high)
    unseen = ~(_col(test_variance)[:, 0] > 0)
    p = np.where(unseen | np.isnan(p), 1.0, p)
    no_interval = ~(_col(interval_variance)[:, 0] > 0) | (d.shape[1] == 0)
    return Sequential(p, np.where(no_interval, np.nan, low), np.where(no_interval, np.nan, high))


def _col(values: np.ndarray | float) -> np.ndarray:
    return np.asarray(values, dtype=float).reshape(-1, 1)


def _log_lr(
    theta: np.ndarray, variance: np.ndarray, pairs: np.ndarray, log_tau: np.ndarray
) -> np.ndarray:
    """log Λ_j = (z² r/(1 + r) - log(1 + r)) / 2, with V = σ²/j and r = τ²/V."""
    z_sq = theta * theta * pairs / variance
    log_r = 2.0 * log_tau + np.log(pairs) - np.log(variance)
    share = np.exp(-np.logaddexp(0.0, -log_r))  # r / (1 + r)
    return 0.5 * (z_sq * share - np.logaddexp(0.0, log_r))


def _half_width(
    variance: np.ndarray, pairs: np.ndarray, log_tau: np.ndarray, alpha: float
) -> np.ndarray:
    """sqrt(V (1 + 1/r) (2 log(1/α) + log(1 + r))), i.e. sqrt(V)·c(r)."""
    log_v = np.log(variance) - np.log(pairs)
    log_r = 2.0 * log_tau - log_v
    log_c_sq = np.logaddexp(0.0, -log_r) + np.log(
        2.0 * math.log(1.0 / alpha) + np.logaddexp(0.0, log_r)
    )
    return np.exp(0.5 * (log_v + log_c_sq))
