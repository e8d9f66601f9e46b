"""The A/B statistics on simulated experiments with known effects (seeded, vectorized):

- under no effect, looked at every few outcomes up to the sample size, the always-valid
  test declares a difference in at most about alpha of the experiments, while a fixed z-test
  repeated at the same looks does so several times as often;
- with the declared effect, at the computed sample size, it finds the difference with
  at least the declared power;
- with three variants, Bonferroni keeps the chance of any false difference at alpha.

The measured rates are printed (``pytest -s``) for the record.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from ailayer.monitoring.experiment import analyse, sequential
from ailayer.monitoring.sequential import mixture, sample_size

ALPHA, POWER = 0.05, 0.8
EXPERIMENTS = 1000
TOLERANCE = 0.02  # about 3 standard errors of a rate near 0.05 over 1,000 experiments


def draw(kind: str, rng: np.random.Generator, size: tuple[int, int], center: float) -> np.ndarray:
    if kind == "proportion":
        return (rng.random(size) < center).astype(float)
    return rng.normal(center, 1.0, size)


def looks(needed: int, step: int) -> list[int]:
    return [*range(step, needed, step), needed]


def repeated(kind: str, control: np.ndarray, variant: np.ndarray, at: list[int]) -> tuple:
    """(always-valid, naive z-test): which experiments were declared different at any look."""
    design = mixture(EFFECT[kind], ALPHA, POWER)
    ever = np.zeros(len(control), dtype=bool)
    naive = np.zeros(len(control), dtype=bool)
    for n in at:
        a, b = control[:, :n], variant[:, :n]
        ever |= sequential(a, b, kind, design).p_value <= ALPHA
        se = np.sqrt((a.var(axis=1, ddof=1) + b.var(axis=1, ddof=1)) / n)
        with np.errstate(divide="ignore", invalid="ignore"):
            z = (b.mean(axis=1) - a.mean(axis=1)) / se
        naive |= np.nan_to_num(2 * stats.norm.sf(np.abs(z)), nan=1.0) <= ALPHA
    return ever.mean(), naive.mean()


EFFECT = {"proportion": 0.05, "mean": 0.2}
BASE = {"proportion": 0.10, "mean": 0.0}
SD = {
    "proportion": (np.sqrt(2 * 0.125 * 0.875), np.sqrt(0.09 + 0.15 * 0.85)),
    "mean": (2**0.5,) * 2,
}


def needed(kind: str) -> int:
    sd0, sd1 = SD[kind]
    n = sample_size(mixture(EFFECT[kind], ALPHA, POWER), sd0, sd1, 10**12)
    assert n is not None
    return n


def test_no_effect_false_positive_rate_under_repeated_looks() -> None:
    for kind, seed in (("mean", 1), ("proportion", 2)):
        rng = np.random.default_rng(seed)
        n = needed(kind)
        control = draw(kind, rng, (EXPERIMENTS, n), BASE[kind])
        variant = draw(kind, rng, (EXPERIMENTS, n), BASE[kind])
        at = looks(n, max(1, n // 20))
        always_valid, naive = repeated(kind, control, variant, at)
        print(
            f"{kind}: {len(at)} looks up to {n}: false positives {always_valid:.4f} (always "
            f"valid) vs {naive:.4f} (z-test at each look)"
        )
        assert always_valid <= ALPHA + TOLERANCE, (kind, always_valid)
        assert naive >= 2.5 * ALPHA, (kind, naive)  # what the correction is for
        assert naive > always_valid + 2 * ALPHA


def test_power_at_the_computed_sample_size() -> None:
    for kind, seed in (("mean", 3), ("proportion", 4)):
        rng = np.random.default_rng(seed)
        n = needed(kind)
        control = draw(kind, rng, (EXPERIMENTS, n), BASE[kind])
        variant = draw(kind, rng, (EXPERIMENTS, n), BASE[kind] + EFFECT[kind])
        design = mixture(EFFECT[kind], ALPHA, POWER)
        result = sequential(control, variant, kind, design)
        found = result.p_value <= ALPHA
        power = found.mean()
        print(f"{kind}: power at n = {n} per variant: {power:.4f} (declared {POWER})")
        assert power >= POWER - TOLERANCE, (kind, power)
        assert (result.low[found] > 0).all()  # found in the right direction
        for i in range(3):  # analyse runs the same test, and judges at the sample size
            one = analyse({"a": control[i], "b": variant[i]}, kind, EFFECT[kind])
            [comparison] = one.comparisons
            assert comparison.needed is not None and abs(comparison.needed - n) <= 0.1 * n
            assert comparison.p_value == result.p_value[i]
            if comparison.pairs >= comparison.needed:
                assert comparison.verdict == ("better" if found[i] else "no significant difference")


def test_bonferroni_holds_the_family_error_with_three_variants() -> None:
    rng = np.random.default_rng(5)
    n = needed("mean") // 2
    control, b, c = (rng.normal(0, 1, (EXPERIMENTS, n)) for _ in range(3))
    corrected = mixture(EFFECT["mean"], ALPHA / 2, POWER)
    uncorrected = mixture(EFFECT["mean"], ALPHA, POWER)
    family, alone = np.zeros(EXPERIMENTS, dtype=bool), np.zeros(EXPERIMENTS, dtype=bool)
    for size in looks(n, n // 10):
        for variant in (b, c):
            a, v = control[:, :size], variant[:, :size]
            family |= sequential(a, v, "mean", corrected).p_value <= ALPHA / 2
            alone |= sequential(a, v, "mean", uncorrected).p_value <= ALPHA
    print(
        f"three variants: family-wise false positives {family.mean():.4f} (Bonferroni) vs "
        f"{alone.mean():.4f} (each at alpha)"
    )
    assert family.mean() <= ALPHA + TOLERANCE
    assert alone.mean() >= family.mean()
    result = analyse({"a": control[0], "b": b[0], "c": c[0]}, "mean", EFFECT["mean"])
    expected = sequential(control[0], b[0], "mean", corrected).p_value[0]
    assert result.comparisons[0].p_value == min(1.0, 2 * expected)
