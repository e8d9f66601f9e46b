"""Which test judges a feature, its default threshold, and every statistic of a pair.

The defaults follow the common convention (Evidently's): with up to 1,000 reference
rows a p-value test (KS for numeric, chi-square for categorical, drift when p < 0.05);
above that a distance (Wasserstein normalized by the reference's standard deviation for
numeric, Jensen-Shannon for categorical, drift when ≥ 0.1). PSI is computed for every
feature and banded at 0.1 / 0.25.
"""

from __future__ import annotations

from dataclasses import dataclass

from ailayer.monitoring.drift import stats
from ailayer.monitoring.drift.summary import CategoricalSummary, NumericSummary, Summary
from ailayer.monitoring.numeric import FLOAT_MAX, ratio

SMALL_REFERENCE_ROWS = 1_000
P_VALUE_THRESHOLD = 0.05
DISTANCE_THRESHOLD = 0.1
PSI_BANDS = (0.1, 0.25)
MIN_STD = 0.001  # Wasserstein of a constant reference is divided by this instead of 0


@dataclass(frozen=True)
class Method:
    """A drift test: the statistic it reads and how its threshold is compared."""

    name: str
    kinds: tuple[str, ...]
    uses_p_value: bool
    threshold: float

    def drifted(self, statistic: float, p_value: float | None, threshold: float) -> bool:
        if self.uses_p_value:
            return p_value is not None and p_value < threshold
        return statistic >= threshold


METHODS: dict[str, Method] = {
    "ks": Method("ks", ("numeric",), True, P_VALUE_THRESHOLD),
    "chi2": Method("chi2", ("categorical",), True, P_VALUE_THRESHOLD),
    "wasserstein": Method("wasserstein", ("numeric",), False, DISTANCE_THRESHOLD),
    "jensenshannon": Method("jensenshannon", ("numeric", "categorical"), False, DISTANCE_THRESHOLD),
    "psi": Method("psi", ("numeric", "categorical"), False, PSI_BANDS[0]),
}


def default_method(kind: str, reference_count: int) -> str:
    """The conventional test for a feature of ``kind`` with this many reference values."""
    small = reference_count <= SMALL_REFERENCE_ROWS
    if kind == "numeric":
        return "ks" if small else "wasserstein"
    return "chi2" if small else "jensenshannon"


def psi_band(value: float) -> str:
    """``stable`` below 0.1, ``moderate`` below 0.25, ``significant`` above."""
    if value < PSI_BANDS[0]:
        return "stable"
    return "moderate" if value < PSI_BANDS[1] else "significant"


def statistics(
    reference: Summary, current: Summary, *, ks_p_value: bool = True
) -> dict[str, float]:
    """Every statistic that applies to the pair, by name (p-values as ``<test>_p_value``).

    The KS p-value of large samples costs ~0.1 s (scipy's ``kstwo``), so it can be skipped
    when KS is not the deciding test.
    """
    if isinstance(reference, NumericSummary) and isinstance(current, NumericSummary):
        return _numeric(reference, current, ks_p_value)
    if isinstance(reference, CategoricalSummary) and isinstance(current, CategoricalSummary):
        return _categorical(reference, current)
    raise ValueError("reference and current summaries are of different kinds")


def capped_names(values: dict[str, float]) -> list[str]:
    """Statistics whose true value lies beyond the float range, reported at ±1.8e308."""
    return [name for name, value in values.items() if abs(value) >= FLOAT_MAX]


def _numeric(ref: NumericSummary, cur: NumericSummary, with_p_value: bool) -> dict[str, float]:
    args = (ref.values, ref.weights, cur.values, cur.weights)
    d, area = stats.ks_and_wasserstein(*args)
    values = {"ks": d}
    if with_p_value:
        values["ks_p_value"] = stats.ks(*args, exact=ref.exact and cur.exact, statistic=d)[1]
    return values | {
        "wasserstein": ratio(area, max(ref.std, MIN_STD)),
        "wasserstein_raw": area,
        "psi": stats.psi(ref.hist, cur.hist),
        "jensenshannon": stats.jensenshannon(ref.hist, cur.hist),
    }


def _categorical(ref: CategoricalSummary, cur: CategoricalSummary) -> dict[str, float]:
    ref_counts, cur_counts = ref.aligned(cur)
    statistic, p_value = stats.chi2(ref_counts, cur_counts)
    return {
        "chi2": statistic,
        "chi2_p_value": p_value,
        "psi": stats.psi(ref_counts, cur_counts),
        "jensenshannon": stats.jensenshannon(ref_counts, cur_counts),
    }
