# ruff: noqa: RUF002 (the docstrings use the usual Greek letters of statistics)
"""A/B experiment results: each variant against a control, with a verdict that holds up
under repeated looking.

Outcomes per variant come in as arrays in the order they happened (one value per
prediction: 0/1 for a ``proportion`` such as conversion or accuracy, any finite number
for a ``mean``). For each variant against the control:

- a summary per variant (n, mean, sample variance; successes for proportions);
- the difference of means (variant - control) and the fixed-sample test its metric type
  calls for: the two-proportion z-test (pooled rate under H0) for proportions, Welch's
  t-test (unequal variances, Satterthwaite's degrees of freedom) for means. Its p-value
  is shown as ``fixed_p_value``: it is right only for one look at a sample size fixed in
  advance, so the verdict does not use it;
- the always-valid p-value and confidence interval of the mixture SPRT
  (``ailayer.monitoring.sequential``) on the same statistic (pooled rate, or the two
  variances): valid however often the result is looked at;
- the sample size per variant at which the declared minimum detectable effect is found
  with the declared power by that sequential test, and the fixed-sample size beside it;
- a verdict, only once both variants reached that size: ``better`` or ``worse`` (higher
  means are better) when the always-valid p-value is at most α, else ``no significant
  difference``; before it, ``not enough data``.

More than two variants: every variant is compared with the control, and the m
comparisons share α by Bonferroni (each at α/m: the intervals, sample sizes and
decisions all use α/m, and reported p-values are multiplied by m), which keeps the
chance of any false "better/worse" at α whatever the dependence between comparisons.

Any finite floats work: values are scaled by a power of two before any arithmetic
(``ailayer.monitoring.numeric``), results scaled back and capped to the float range.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from ailayer.core.errors import InvalidInput
from ailayer.monitoring.numeric import capped, exponent, scaled, unscaled
from ailayer.monitoring.sequential import (
    Mixture,
    Sequential,
    always_valid,
    fixed_sample_size,
    mixture,
)
from ailayer.monitoring.sequential import sample_size as sequential_sample_size

Kind = Literal["proportion", "mean"]
KINDS: tuple[str, ...] = ("proportion", "mean")
Verdict = Literal["better", "worse", "no significant difference", "not enough data"]
MAX_PAIRS = 10**12  # a sample size above this is reported as unreachable
CORRECTION = "bonferroni"
METHOD = "msprt"
TESTS = {"proportion": "two-proportion z-test", "mean": "Welch's t-test"}


@dataclass(frozen=True, slots=True)
class VariantSummary:
    """One variant's outcomes. ``variance`` is the sample variance (ddof 1), None below
    two outcomes; ``successes`` only for proportions; ``mean`` None when empty."""

    name: str
    n: int
    mean: float | None
    variance: float | None
    successes: int | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "n": self.n,
            "mean": self.mean,
            "variance": self.variance,
            "successes": self.successes,
        }


@dataclass(frozen=True, slots=True)
class Comparison:
    """One variant against the control. ``pairs`` is the sample the sequential test has
    used (the smaller variant's n); ``needed`` the sample it needs per variant (None when
    it cannot be known yet: see ``message``)."""

    variant: str
    control: str
    difference: float | None
    interval: tuple[float, float] | None
    test: str
    statistic: float | None
    fixed_p_value: float | None
    p_value: float
    pairs: int
    needed: int | None
    fixed_needed: int | None
    verdict: Verdict
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "variant": self.variant,
            "control": self.control,
            "difference": self.difference,
            "interval": None if self.interval is None else list(self.interval),
            "test": self.test,
            "statistic": self.statistic,
            "fixed_p_value": self.fixed_p_value,
            "p_value": self.p_value,
            "pairs": self.pairs,
            "needed": self.needed,
            "fixed_needed": self.fixed_needed,
            "verdict": self.verdict,
            "message": self.message,
        }


@dataclass(frozen=True, slots=True)
class ExperimentResult:
    """Summaries of every variant and the comparisons with the control, in variant order."""

    kind: Kind
    control: str
    effect: float
    alpha: float
    power: float
    variants: tuple[VariantSummary, ...]
    comparisons: tuple[Comparison, ...]
    method: str = METHOD
    correction: str = CORRECTION

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "control": self.control,
            "effect": self.effect,
            "alpha": self.alpha,
            "power": self.power,
            "method": self.method,
            "correction": self.correction,
            "variants": [v.to_dict() for v in self.variants],
            "comparisons": [c.to_dict() for c in self.comparisons],
        }


def analyse(
    outcomes: Mapping[str, np.ndarray],
    kind: str,
    effect: float,
    alpha: float = 0.05,
    power: float = 0.8,
    control: str | None = None,
) -> ExperimentResult:
    """Compare every variant of ``outcomes`` (name → outcomes in time order) with
    ``control`` (default: the first variant). ``effect`` is the minimum detectable
    difference of means (variant - control, either direction), in the outcome's unit."""
    check_design(kind, effect, alpha, power)
    if not outcomes:
        raise InvalidInput("an experiment needs at least one variant", field="variants")
    names = list(outcomes)
    control = names[0] if control is None else control
    if control not in outcomes:
        raise InvalidInput(
            f"control {control!r} is not a variant; variants: {names}", field="control"
        )
    arrays = {name: _outcomes(name, values, kind) for name, values in outcomes.items()}
    others = [name for name in names if name != control]
    design = mixture(effect, alpha / max(1, len(others)), power)
    return ExperimentResult(
        kind=kind,  # type: ignore[arg-type]
        control=control,
        effect=float(effect),
        alpha=float(alpha),
        power=float(power),
        variants=tuple(summarize(name, arrays[name], kind) for name in names),
        comparisons=tuple(
            _compare(arrays[control], arrays[name], control, name, kind, design, len(others))
            for name in others
        ),
    )


def check_design(kind: str, effect: Any, alpha: Any, power: Any) -> None:
    """The experiment's declared parameters, or ``InvalidInput`` naming the one that is off."""
    if kind not in KINDS:
        raise InvalidInput(f"kind must be one of {list(KINDS)}, got {kind!r}", field="kind")
    if not _number(alpha) or not 0 < alpha <= 0.5:
        raise InvalidInput(f"alpha must be in (0, 0.5], got {alpha!r}", field="alpha")
    if not _number(power) or not 0 < power < 1:
        raise InvalidInput(f"power must be in (0, 1), got {power!r}", field="power")
    if not _number(effect) or not effect > 0:
        raise InvalidInput(
            f"effect must be a finite number above 0, got {effect!r}", field="effect"
        )
    if kind == "proportion" and not effect < 1:
        raise InvalidInput(
            f"effect is a difference of rates here, so below 1; got {effect!r}", field="effect"
        )


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _outcomes(name: str, values: Any, kind: str) -> np.ndarray:
    array = np.asarray(values, dtype=float).reshape(-1)
    if not np.isfinite(array).all():
        raise InvalidInput(f"variant {name!r} has non-finite outcomes", field="outcomes")
    if kind == "proportion" and not np.isin(array, (0.0, 1.0)).all():
        raise InvalidInput(f"variant {name!r}: proportion outcomes are 0 or 1", field="outcomes")
    return array


def summarize(name: str, values: np.ndarray, kind: str) -> VariantSummary:
    """n, mean and sample variance of finite ``values`` (scaled, so none overflows)."""
    n = len(values)
    successes = int(values.sum()) if kind == "proportion" else None
    if n == 0:
        return VariantSummary(name, 0, None, None, successes)
    e = exponent(float(np.abs(values).max()))
    x = scaled(values, e)
    mean = float(np.clip(x.mean(), x.min(), x.max()))
    variance = float(unscaled(np.var(x, ddof=1), 2 * e)) if n > 1 else None
    return VariantSummary(name, n, float(unscaled(mean, e)), variance, successes)


def _compare(
    a: np.ndarray, b: np.ndarray, control: str, name: str, kind: str, design: Mixture, m: int
) -> Comparison:
    """``b`` (variant ``name``) against ``a`` (the control)."""
    e = _exponent(a, b, kind)
    xa, xb = scaled(a, e), scaled(b, e)
    pairs = min(len(xa), len(xb))
    difference = float(unscaled(xb.mean() - xa.mean(), e)) if pairs else None
    statistic, fixed_p = _fixed_test(xa, xb, kind)
    fixed_p = None if fixed_p is None else min(1.0, fixed_p * m)
    result = sequential(a[:pairs], b[:pairs], kind, design)
    p_value = min(1.0, float(result.p_value[0]) * m)
    interval = _interval(float(result.low[0]), float(result.high[0]))
    needed, fixed_needed, why = _sizes(xa, xb, kind, design, e)
    alpha = design.alpha * m
    shift = float(np.mean(xb[:pairs] - xa[:pairs])) if pairs else 0.0
    verdict, message = _verdict(
        name, control, pairs, needed, why, p_value <= alpha, interval, shift
    )
    return Comparison(
        variant=name,
        control=control,
        difference=difference,
        interval=interval,
        test=TESTS[kind],
        statistic=statistic,
        fixed_p_value=fixed_p,
        p_value=p_value,
        pairs=pairs,
        needed=needed,
        fixed_needed=fixed_needed,
        verdict=verdict,
        message=message,
    )


def _exponent(a: np.ndarray, b: np.ndarray, kind: str) -> int:
    """The power of two the outcomes are scaled by: 0 for proportions (0/1 stay rates)."""
    if kind == "proportion":
        return 0
    return exponent(float(np.abs(a).max(initial=0.0)), float(np.abs(b).max(initial=0.0)))


def _interval(low: float, high: float) -> tuple[float, float] | None:
    if math.isnan(low) or math.isnan(high):
        return None
    return capped(low), capped(high)


def _pair_variances(xa: np.ndarray, xb: np.ndarray, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """σ² of a pair difference per row of ``xa``/``xb`` (experiments × pairs): under H0
    (for the p-value) and as observed (for the interval); 0 below two pairs.

    Proportions: 2·p̄(1 - p̄) with the pooled rate, and pa(1 - pa) + pb(1 - pb). Means:
    the two sample variances' sum for both; when both variants are constant, twice the
    variance of the two together (as pooled under H0), which is 0 only if all are equal.
    """
    if xa.shape[-1] < 2:
        zero = np.zeros(xa.shape[:-1])
        return zero, zero
    if kind == "proportion":
        pa, pb = xa.mean(axis=-1), xb.mean(axis=-1)
        pooled = (pa + pb) / 2.0
        return 2.0 * pooled * (1.0 - pooled), pa * (1.0 - pa) + pb * (1.0 - pb)
    observed = np.var(xa, axis=-1, ddof=1) + np.var(xb, axis=-1, ddof=1)
    both = 2.0 * np.var(np.concatenate([xa, xb], axis=-1), axis=-1, ddof=1)
    chosen = np.where(observed > 0, observed, both)
    return chosen, chosen


def sequential(control: np.ndarray, variant: np.ndarray, kind: str, design: Mixture) -> Sequential:
    """The always-valid test of many experiments at once (rows of equal-length
    ``control`` and ``variant`` outcomes): what ``analyse`` runs on one, unadjusted for
    multiple comparisons (``design`` carries the α of one comparison). Intervals are in
    the outcomes' unit."""
    xa, xb = np.atleast_2d(control).astype(float), np.atleast_2d(variant).astype(float)
    top = np.maximum(np.abs(xa).max(axis=1, initial=0.0), np.abs(xb).max(axis=1, initial=0.0))
    e = np.where((top > 0) & (kind == "mean"), np.frexp(top)[1], 0)
    xa, xb = np.ldexp(xa, -e[:, None]), np.ldexp(xb, -e[:, None])
    test_var, interval_var = _pair_variances(xa, xb, kind)
    result = always_valid(xb - xa, test_var, interval_var, design, e)
    low, high = unscaled(result.low, e), unscaled(result.high, e)
    if kind == "proportion":  # a difference of rates lies in [-1, 1]
        low, high = np.maximum(low, -1.0), np.minimum(high, 1.0)
    return Sequential(result.p_value, low, high)


def _fixed_test(xa: np.ndarray, xb: np.ndarray, kind: str) -> tuple[float | None, float | None]:
    """(statistic, two-sided p-value) of the fixed-sample test on every outcome."""
    from scipy import stats  # on first use: scipy.stats costs ~0.7 s at start-up

    na, nb = len(xa), len(xb)
    if kind == "proportion":
        if not (na and nb):
            return None, None
        pooled = (xa.sum() + xb.sum()) / (na + nb)
        se = math.sqrt(pooled * (1.0 - pooled) * (1.0 / na + 1.0 / nb))
        if se == 0:
            return None, 1.0
        z = (xb.mean() - xa.mean()) / se
        return float(z), float(2.0 * stats.norm.sf(abs(z)))
    if na < 2 or nb < 2:
        return None, None
    va, vb = np.var(xa, ddof=1) / na, np.var(xb, ddof=1) / nb
    if va + vb > 0:
        df = (va + vb) ** 2 / (va**2 / (na - 1) + vb**2 / (nb - 1))
        t = (xb.mean() - xa.mean()) / math.sqrt(va + vb)
    else:  # both constant: the pooled-variance t-test
        pooled = np.var(np.concatenate([xa, xb]), ddof=1)
        if pooled == 0:
            return None, 1.0
        df, t = na + nb - 2, (xb.mean() - xa.mean()) / math.sqrt(pooled * (1 / na + 1 / nb))
    return float(t), float(2.0 * stats.t.sf(abs(t), df))


def _sizes(
    xa: np.ndarray, xb: np.ndarray, kind: str, design: Mixture, e: int
) -> tuple[int | None, int | None, str]:
    """(sequential, fixed) sample size per variant, and why they are None if they are.

    Proportions take the control's rate p1 and p2 = p1 ± effect (toward the middle);
    means the two observed variances (ddof 1), in the outcome's scale.
    """
    if min(len(xa), len(xb)) < 2:
        return None, None, "at least 2 outcomes per variant are needed to size the test"
    effect = design.effect
    if kind == "proportion":
        p1 = float(xa.mean())
        p2 = min(max(p1 + effect if p1 + effect <= 1.0 else p1 - effect, 0.0), 1.0)
        pooled = (p1 + p2) / 2.0
        sd0 = math.sqrt(2.0 * pooled * (1.0 - pooled))
        sd1 = math.sqrt(p1 * (1.0 - p1) + p2 * (1.0 - p2))
        e = 0
    else:
        sd0 = sd1 = math.sqrt(float(_pair_variances(xa, xb, kind)[1]))
        if sd0 == 0:
            value = float(unscaled(xa[0], e))
            return None, None, f"every outcome so far is {value:g}, so their variance is unknown"
    needed = sequential_sample_size(design, sd0, sd1, MAX_PAIRS, e)
    fixed = fixed_sample_size(effect, design.alpha, design.power, sd0, sd1, MAX_PAIRS, e)
    why = "" if needed is not None else f"the effect needs over {MAX_PAIRS:,} outcomes per variant"
    return needed, fixed, why


def _verdict(
    name: str,
    control: str,
    pairs: int,
    needed: int | None,
    why: str,
    significant: bool,
    interval: tuple[float, float] | None,
    difference: float,
) -> tuple[Verdict, str]:
    """The verdict, only once the sample reached ``needed``; the direction is the
    interval's side of 0 (or, should it still touch 0, the pairs' mean difference)."""
    if needed is None:
        return "not enough data", f"not enough data: {why}"
    if pairs < needed:
        return "not enough data", f"not enough data: {pairs:,} of {needed:,} needed per variant"
    if not significant:
        return (
            "no significant difference",
            f"no significant difference between {name} and {control}",
        )
    if interval is not None and (interval[0] > 0 or interval[1] < 0):
        difference = interval[0]
    if difference > 0:
        return "better", f"{name} better than {control}"
    return "worse", f"{name} worse than {control}"
