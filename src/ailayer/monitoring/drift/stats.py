"""Two-sample drift statistics on summaries: sorted weighted values and bin counts.

Every function here takes the compact form a summary holds (distinct sorted values
with their counts, or counts per bin/category), never raw rows, and returns the same
number SciPy returns on the raw data:

- ``ks`` — ``scipy.stats.ks_2samp`` (statistic; p-value exact for small samples);
- ``wasserstein`` — ``scipy.stats.wasserstein_distance``;
- ``jensenshannon`` — ``scipy.spatial.distance.jensenshannon`` (natural log);
- ``chi2`` — ``scipy.stats.chi2_contingency(table, correction=False)``;
- ``psi`` — the population stability index, with empty bins counted as 0.0001.

Any finite values are accepted: the Wasserstein area is summed on values scaled by a
power of two, and a distance beyond the float range is capped at its largest value.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from ailayer.monitoring.numeric import exponent, scaled, unscaled

KS_EXACT_MAX_N = 10_000  # scipy's ks_2samp(method="auto") is exact up to here
PSI_EMPTY_SHARE = 1e-4  # an empty bin counts as this share, so PSI stays finite


def _signed_cdf_gap(
    a: np.ndarray, wa: np.ndarray, b: np.ndarray, wb: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Pooled sorted values and F_a - F_b just after each of them (ties resolved)."""
    values = np.concatenate([a, b])
    order = np.argsort(values, kind="stable")  # two sorted runs: a linear merge
    values = values[order]
    from_a = order < len(a)
    if _all_ones(wa) and _all_ones(wb):  # distinct continuous values: counts only
        count_a = np.cumsum(from_a, dtype=np.float64)
        count_b = np.arange(1, len(values) + 1) - count_a
    else:
        weights = np.concatenate([wa, wb])[order]
        count_a = np.cumsum(np.where(from_a, weights, 0.0))
        count_b = np.cumsum(weights) - count_a
    return values, count_a / wa.sum() - count_b / wb.sum()


def _all_ones(weights: np.ndarray) -> bool:
    return bool(len(weights) and weights[0] == 1.0 and (weights == 1.0).all())


def ks_and_wasserstein(
    a: np.ndarray, wa: np.ndarray, b: np.ndarray, wb: np.ndarray
) -> tuple[float, float]:
    """The KS statistic (largest CDF gap, read after tied values) and the Wasserstein
    distance (area between the CDFs), from one merge of the two samples."""
    values, gap = _signed_cdf_gap(a, wa, b, wb)
    last_of_tie = np.append(values[1:] != values[:-1], True)
    e = exponent(abs(values[0]), abs(values[-1]))  # sorted: the ends are the extremes
    area = np.sum(np.abs(gap[:-1]) * np.diff(scaled(values, e)))
    return float(np.abs(gap[last_of_tie]).max()), float(unscaled(area, e))


def ks_statistic(a: np.ndarray, wa: np.ndarray, b: np.ndarray, wb: np.ndarray) -> float:
    """Largest gap between the two empirical CDFs."""
    return ks_and_wasserstein(a, wa, b, wb)[0]


def ks_pvalue(d: float, n_a: int, n_b: int) -> float:
    """Two-sided p-value of a KS statistic, by scipy's asymptotic (large-sample) rule."""
    from scipy import stats  # imported on first use: ~60 MB and ~0.7 s, not at start-up

    m, n = sorted([float(n_a), float(n_b)], reverse=True)
    return float(stats.kstwo.sf(d, np.round(m * n / (m + n))))


def ks(
    a: np.ndarray,
    wa: np.ndarray,
    b: np.ndarray,
    wb: np.ndarray,
    *,
    exact: bool = True,
    statistic: float | None = None,
) -> tuple[float, float]:
    """(statistic, p-value) as ``scipy.stats.ks_2samp`` gives them on the raw rows.

    With ``exact`` counts and both samples up to 10,000 rows, scipy's exact path-counting
    p-value is used on the expanded rows, as ``ks_2samp`` does; otherwise the asymptotic.
    """
    from scipy import stats

    n_a, n_b = round(float(wa.sum())), round(float(wb.sum()))
    if exact and max(n_a, n_b) <= KS_EXACT_MAX_N:
        rows_a = np.repeat(a, wa.astype(np.int64))
        rows_b = np.repeat(b, wb.astype(np.int64))
        with warnings.catch_warnings():  # scipy's own fallback to asymptotic, same answer
            warnings.filterwarnings("ignore", "ks_2samp: Exact calculation", RuntimeWarning)
            result = stats.ks_2samp(rows_a, rows_b)
        return float(result.statistic), float(result.pvalue)
    d = ks_statistic(a, wa, b, wb) if statistic is None else statistic
    return d, ks_pvalue(d, n_a, n_b)


def wasserstein(a: np.ndarray, wa: np.ndarray, b: np.ndarray, wb: np.ndarray) -> float:
    """Earth mover's distance: the area between the two empirical CDFs."""
    return ks_and_wasserstein(a, wa, b, wb)[1]


def shares(counts: np.ndarray) -> np.ndarray:
    total = counts.sum()
    return counts / total if total > 0 else np.zeros_like(counts, dtype=float)


def jensenshannon(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen-Shannon distance (natural log; 0 = same, sqrt(ln 2) = disjoint)."""
    from scipy import special

    p, q = shares(np.asarray(p, float)), shares(np.asarray(q, float))
    m = (p + q) / 2.0
    divergence = (special.rel_entr(p, m).sum() + special.rel_entr(q, m).sum()) / 2.0
    return float(math.sqrt(max(divergence, 0.0)))


def psi(reference: np.ndarray, current: np.ndarray) -> float:
    """Population stability index: sum of (cur - ref) * ln(cur / ref) over bins."""
    ref = np.maximum(shares(np.asarray(reference, float)), PSI_EMPTY_SHARE)
    cur = np.maximum(shares(np.asarray(current, float)), PSI_EMPTY_SHARE)
    return float(np.sum((cur - ref) * np.log(cur / ref)))


def chi2(reference: np.ndarray, current: np.ndarray) -> tuple[float, float]:
    """Pearson chi-square test of homogeneity of two count vectors: (statistic, p-value).

    Equals ``scipy.stats.chi2_contingency([reference, current], correction=False)`` after
    dropping categories empty in both; one category left means no evidence (0, 1).
    """
    from scipy import stats

    table = np.vstack([reference, current]).astype(float)
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2 or (table.sum(axis=1) == 0).any():
        return 0.0, 1.0
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / table.sum()
    statistic = float(((table - expected) ** 2 / expected).sum())
    return statistic, float(stats.chi2.sf(statistic, table.shape[1] - 1))
