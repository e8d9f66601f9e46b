"""Mergeable per-window summaries of one feature, so drift never needs the raw rows.

A ``NumericSummary`` keeps the distinct values with their counts while there are at
most ``EXACT_LIMIT`` of them — every statistic is then exactly SciPy's — and beyond that
an equal-mass sketch of ``SKETCH_SIZE`` centroids (mean exact, ranks within about
1/``SKETCH_SIZE`` per compression). It also counts rows into fixed bins cut at the
reference's quantiles, exactly and for ever, for PSI and Jensen-Shannon.
A ``CategoricalSummary`` counts each category. Merging two windows' summaries gives the
summary of their union.

Any finite float is summarized without overflow (moments are kept as mean and standard
deviation and computed on scaled values, see ``ailayer.monitoring.numeric``). Values whose
magnitude exceeds ``OUT_OF_RANGE`` (1e150) are counted in ``out_of_range``, a data-quality
finding shown per feature in drift reports; finite ones still take part in every
statistic, while ±inf, which no statistic can place, are left out like missing values.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ailayer.monitoring.numeric import (
    OUT_OF_RANGE,
    exponent,
    merged_moments,
    moments,
    scaled,
    unscaled,
)

EXACT_LIMIT = 2**18  # distinct values kept exactly per feature (4 MiB)
SKETCH_SIZE = 4096  # centroids kept once a feature outgrows EXACT_LIMIT
DEFAULT_BINS = 10  # reference deciles: the usual PSI binning


@dataclass(frozen=True, eq=False)
class NumericSummary:
    """Sorted ``values`` with ``weights`` (counts), bin counts and moments of a window.

    ``count`` is the finite values, ``missing`` the NaN/None ones; ``std`` is the
    population standard deviation (``np.std`` with ``ddof=0``); ``out_of_range`` counts
    values with magnitude above 1e150, infinities included (those are not in ``count``).
    """

    values: np.ndarray
    weights: np.ndarray
    edges: np.ndarray
    hist: np.ndarray
    count: int
    missing: int
    mean: float
    std: float
    exact: bool
    out_of_range: int = 0
    kind: str = field(default="numeric", init=False)

    def merge(self, other: NumericSummary) -> NumericSummary:
        """The summary of both windows; they must share the reference's bin edges."""
        if not np.array_equal(self.edges, other.edges):
            raise ValueError("cannot merge numeric summaries binned on different edges")
        values, weights = _combine(
            np.concatenate([self.values, other.values]),
            np.concatenate([self.weights, other.weights]),
        )
        mean, std = merged_moments(
            (self.count, self.mean, self.std), (other.count, other.mean, other.std)
        )
        return _bounded(
            values,
            weights,
            edges=self.edges,
            hist=self.hist + other.hist,
            count=self.count + other.count,
            missing=self.missing + other.missing,
            mean=mean,
            std=std,
            exact=self.exact and other.exact,
            out_of_range=self.out_of_range + other.out_of_range,
        )

    def quantiles(self, probabilities: np.ndarray) -> np.ndarray:
        """Inverse-CDF quantiles (``np.quantile(..., method="inverted_cdf")`` when exact)."""
        cumulative = np.cumsum(self.weights)
        index = np.searchsorted(cumulative, probabilities * cumulative[-1], side="left")
        return self.values[np.minimum(index, len(self.values) - 1)]


@dataclass(frozen=True, eq=False)
class CategoricalSummary:
    """Count of each category (as text) in a window, and of missing values."""

    counts: dict[str, int]
    missing: int
    kind: str = field(default="categorical", init=False)

    @property
    def count(self) -> int:
        return sum(self.counts.values())

    def merge(self, other: CategoricalSummary) -> CategoricalSummary:
        merged = Counter(self.counts)
        merged.update(other.counts)
        return CategoricalSummary(dict(merged), self.missing + other.missing)

    def aligned(self, other: CategoricalSummary) -> tuple[np.ndarray, np.ndarray]:
        """Both count vectors over the union of categories, in a stable order."""
        keys = sorted(set(self.counts) | set(other.counts))
        mine = np.array([self.counts.get(k, 0) for k in keys], dtype=float)
        theirs = np.array([other.counts.get(k, 0) for k in keys], dtype=float)
        return mine, theirs


Summary = NumericSummary | CategoricalSummary


def summarize_numeric(
    column: object, edges: np.ndarray | None = None, bins: int = DEFAULT_BINS
) -> NumericSummary:
    """Summarize one window of a numeric column; ``edges`` None makes its own quantile bins."""
    data = np.asarray(column, dtype=float)
    present = data[~np.isnan(data)]
    ordered = np.sort(present[np.isfinite(present)])
    values, weights = _distinct(ordered)
    if edges is None:
        edges = quantile_edges(values, weights, bins)
    count = len(ordered)
    mean, std = moments(ordered)
    return _bounded(
        values,
        weights,
        edges=edges,
        hist=np.diff(np.searchsorted(ordered, edges, side="right"), prepend=0, append=count),
        count=count,
        missing=len(data) - len(present),
        mean=mean,
        std=std,
        exact=True,
        out_of_range=int(np.count_nonzero(np.abs(present) > OUT_OF_RANGE)),
    )


def summarize_categorical(column: object) -> CategoricalSummary:
    """Count the categories of one window; missing values (None, NaN) are counted apart."""
    series = column if isinstance(column, pd.Series) else pd.Series(np.asarray(column))
    counts = series.value_counts(dropna=True, sort=False)
    table = {str(key): int(n) for key, n in counts.items() if n > 0}
    return CategoricalSummary(table, int(series.isna().sum()))


def quantile_edges(values: np.ndarray, weights: np.ndarray, bins: int) -> np.ndarray:
    """Interior cut points at the reference's 1/bins, 2/bins, ... quantiles, deduplicated."""
    if len(values) == 0:
        return np.empty(0)
    cumulative = np.cumsum(weights)
    targets = np.arange(1, bins) / bins * cumulative[-1]
    cuts = values[np.minimum(np.searchsorted(cumulative, targets), len(values) - 1)]
    return np.unique(cuts[cuts < values[-1]])


def compress(values: np.ndarray, weights: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """``size`` equal-mass centroids: the mean of each 1/size slice of the distribution.

    The integral of the quantile function is piecewise linear between cumulative
    weights, so each slice's mean is read off exactly, splitting heavy values between
    slices; the overall mean is kept exactly. Sums run on values scaled by a power of
    two, so no magnitude overflows them.
    """
    e = exponent(float(np.abs(values).max()))
    unit = scaled(values, e)
    cumulative = np.concatenate([[0.0], np.cumsum(weights)])
    integral = np.concatenate([[0.0], np.cumsum(unit * weights)])
    total = cumulative[-1]
    cuts = np.interp(np.linspace(0.0, total, size + 1), cumulative, integral)
    centroids = np.clip(np.diff(cuts) / (total / size), unit[0], unit[-1])
    return unscaled(centroids, e), np.full(size, total / size)


def _distinct(ordered: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if len(ordered) == 0:
        return ordered, np.empty(0)
    starts = np.flatnonzero(np.concatenate([[True], ordered[1:] != ordered[:-1]]))
    return ordered[starts], np.diff(np.append(starts, len(ordered))).astype(float)


def _combine(values: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(values, kind="stable")
    values, weights = values[order], weights[order]
    if len(values) == 0:
        return values, weights
    starts = np.flatnonzero(np.concatenate([[True], values[1:] != values[:-1]]))
    return values[starts], np.add.reduceat(weights, starts)


def _bounded(values: np.ndarray, weights: np.ndarray, **fields: object) -> NumericSummary:
    if len(values) > EXACT_LIMIT:
        values, weights = compress(values, weights, SKETCH_SIZE)
        fields["exact"] = False
    return NumericSummary(values=values, weights=weights, **fields)  # type: ignore[arg-type]
