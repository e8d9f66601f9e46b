"""Property tests over extreme floats: ±max float, subnormals, ±inf and NaN among ordinary
values, huge counts, constant columns, empty windows. Drift (profiles, merge, every
statistic), performance metrics, fairness and the HTML report never fail, and every
number they promise is finite."""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime, timedelta
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ailayer.monitoring.drift import METHODS, Profile, compare, judge, learn_thresholds, profile
from ailayer.monitoring.endpoint.drift import VersionDrift
from ailayer.monitoring.endpoint.references import Reference
from ailayer.monitoring.endpoint.report import charts, render
from ailayer.monitoring.fairness import fairness_report
from ailayer.monitoring.log import metrics
from ailayer.monitoring.log.performance import compare as vs_training
from ailayer.monitoring.numeric import FLOAT_MAX, OUT_OF_RANGE

TINY = 5e-324
EXTREMES = (FLOAT_MAX, -FLOAT_MAX, 1.7e308, -1.7e308, 1e300, -1e200, TINY, -TINY, 2.2e-308)
ORDINARY = (0.0, -0.0, 1.0, -3.5, 42.0)
SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])

finite = st.one_of(
    st.sampled_from(EXTREMES + ORDINARY),
    st.floats(allow_nan=False, allow_infinity=False),
    st.floats(-1e3, 1e3),
)
anything = st.one_of(finite, finite, finite, st.sampled_from((math.nan, math.inf, -math.inf)))
columns = st.one_of(
    st.lists(anything, max_size=60),
    st.builds(lambda x, n: [x] * n, finite, st.integers(0, 50)),  # constant (or empty)
    st.lists(st.sampled_from((FLOAT_MAX, -FLOAT_MAX, TINY, 1.0)), min_size=1, max_size=40),
)


def _frame(values: list[float]) -> dict[str, list]:
    """A numeric feature and a categorical one derived from it."""
    return {"x": values, "c": [_category(v) for v in values]}


def _category(value: float) -> str | None:
    if math.isnan(value):
        return None
    return "huge" if abs(value) > 1e100 else ("tiny" if abs(value) < 1e-100 else "plain")


def _finite(value: object) -> bool:
    """Every float in a nested structure is finite."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_finite(v) for v in value.values())
    if isinstance(value, list | tuple):
        return all(_finite(v) for v in value)
    return True


def _exact_moments(values: list[float]) -> tuple[float, float]:
    """Mean and population std in exact rational arithmetic, rounded once."""
    exact = [Fraction(v) for v in values]
    mean = sum(exact) / len(exact)
    variance = sum((v - mean) ** 2 for v in exact) / len(exact)
    if variance == 0:
        return float(mean), 0.0
    k = (variance.numerator.bit_length() - variance.denominator.bit_length()) // 2
    return float(mean), math.ldexp(math.sqrt(float(variance / Fraction(4) ** k)), k)


def _doubled(window: Profile, times: int) -> Profile:
    for _ in range(times):
        window = window.merge(window)
    return window


@SETTINGS
@given(columns, columns, columns, st.integers(0, 55))
def test_drift_profiles_merges_and_statistics_stay_finite(
    ref: list[float], cur: list[float], more: list[float], doublings: int
) -> None:
    reference = profile(_frame(ref), categorical=["c"])
    first = profile(_frame(cur), reference=reference)
    merged = first.merge(profile(_frame(more), reference=reference))
    window = _doubled(merged, doublings)  # up to ~3e18 rows: huge counts
    restored = Profile.from_bytes(window.to_bytes())
    for summary in (reference.features["x"], merged.features["x"], restored.features["x"]):
        assert math.isfinite(summary.mean) and math.isfinite(summary.std) and summary.std >= 0
    numbers = [v for v in cur + more if math.isfinite(v)]
    summary = merged.features["x"]
    assert summary.count == len(numbers)
    assert summary.out_of_range == sum(abs(v) > OUT_OF_RANGE for v in cur + more)
    if numbers:
        mean, std = _exact_moments(numbers)
        scale = max(abs(v) for v in numbers)
        assert min(numbers) <= summary.mean <= max(numbers)
        assert abs(summary.mean - mean) <= 1e-12 * scale
        assert abs(summary.std - std) <= 1e-9 * scale
    for name in ("x", "c"):
        for method, spec in METHODS.items():
            if reference.features[name].kind not in spec.kinds:
                continue
            verdict = judge(
                name, reference.features[name], window.features[name], method=method, min_count=0
            )
            _check_verdict(verdict)
    report = compare(reference, window, min_count=1)
    body = report.to_dict()
    json.dumps(body, allow_nan=False, default=str)
    assert _finite(body)
    thresholds = learn_thresholds(reference, [first, window])
    assert all(_finite([t.mean, t.std, t.bound]) for t in thresholds.values())


def _check_verdict(verdict) -> None:  # type: ignore[no-untyped-def]
    if verdict.drifted is None:
        assert verdict.reason  # e.g. an empty window: said, not raised
        return
    assert math.isfinite(verdict.statistic)
    assert verdict.p_value is None or 0.0 <= verdict.p_value <= 1.0
    assert _finite(verdict.statistics) and verdict.psi_band in ("stable", "moderate", "significant")


@SETTINGS
@given(columns, columns)
def test_the_html_report_renders_finite_numbers(ref: list[float], cur: list[float]) -> None:
    reference = profile(_frame(ref), categorical=["c"])
    current = profile(_frame(cur), reference=reference)
    report = compare(reference, current, min_count=1, prediction=None)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    stored = Reference("m", 1, reference, reference.rows, "upload", "", now)
    item = VersionDrift("m", 1, now - timedelta(days=1), now, current.rows, report, stored, current)
    performance = {"window": "hour", "windows": []}
    page = render("shop", [item], performance, now - timedelta(days=1), now, now)
    body = page.split("<body>", 1)[1]
    assert not re.search(r"\b(nan|inf|infinity)\b", body, re.IGNORECASE), body
    svg = charts.histogram(reference.features["x"], current.features["x"])
    assert not re.search(r"\b(nan|inf)\b", svg, re.IGNORECASE)


metric_values = st.lists(finite, min_size=1, max_size=40)


@SETTINGS
@given(metric_values, metric_values, st.data())
def test_performance_metrics_stay_finite(truth: list[float], predicted: list[float], data) -> None:  # type: ignore[no-untyped-def]
    n = min(len(truth), len(predicted))
    y_true, y_pred = np.array(truth[:n]), np.array(predicted[:n])
    regression = metrics.regression_metrics(y_true, y_pred)
    assert _finite(regression) and regression["mae"] >= 0 and regression["rmse"] >= 0
    labels = np.array(data.draw(st.lists(st.integers(0, 1), min_size=n, max_size=n)))
    decisions = np.array(data.draw(st.lists(st.integers(0, 1), min_size=n, max_size=n)))
    binary = metrics.binary_metrics(labels, decisions, y_pred)  # scores way outside [0, 1]
    assert _finite(binary)
    multiclass = metrics.multiclass_metrics(list(y_true), list(y_pred))
    assert _finite(multiclass)
    training = {"mse": 1.0, "mae": -FLOAT_MAX, "r_squared": FLOAT_MAX}
    assert _finite(vs_training(regression, training))


@SETTINGS
@given(metric_values, st.data())
def test_fairness_stays_finite(scores: list[float], data) -> None:  # type: ignore[no-untyped-def]
    n = len(scores)
    groups = data.draw(st.lists(st.sampled_from("ab"), min_size=n, max_size=n))
    labels = data.draw(st.lists(st.integers(0, 1), min_size=n, max_size=n))
    threshold = data.draw(finite)
    report = fairness_report(scores, groups, y_true=labels, threshold=threshold)
    body = report.to_dict()
    json.dumps(body, allow_nan=False)
    assert _finite(body)
    assert 0.0 <= report.demographic_parity_ratio <= 1.0


@pytest.mark.parametrize(
    "values",
    [
        [FLOAT_MAX, -FLOAT_MAX],
        [1.7e308] * 40 + [-1.7e308] * 40,
        [TINY, -TINY, 0.0] * 20,
        [7.0] * 50,
    ],
    ids=["max-and-min", "opposite-halves", "subnormals", "constant"],
)
def test_named_extremes_judge_without_errors(values: list[float]) -> None:
    """The cases of the bug report, by name: squares and differences would overflow."""
    reference = profile({"x": [float(v) for v in np.linspace(-1, 1, 60)]})
    current = profile({"x": values}, reference=reference)
    for method in ("ks", "wasserstein", "psi", "jensenshannon"):
        verdict = judge(
            "x", reference.features["x"], current.features["x"], method=method, min_count=1
        )
        _check_verdict(verdict)
    merged = current.merge(current).features["x"]
    assert math.isfinite(merged.mean) and math.isfinite(merged.std)
    assert merged.count == 2 * len(values)


def test_an_out_of_range_wasserstein_distance_is_capped_and_named() -> None:
    reference = profile({"x": [-1.7e308] * 40})
    current = profile({"x": [1.7e308] * 40}, reference=reference)
    verdict = judge("x", reference.features["x"], current.features["x"], method="wasserstein")
    assert verdict.drifted is True and verdict.statistic == FLOAT_MAX
    assert {"wasserstein", "wasserstein_raw"} <= set(verdict.capped)
    assert verdict.reference_out_of_range == 40 and verdict.current_out_of_range == 40


def test_infinities_are_out_of_range_and_left_out_of_the_statistics() -> None:
    window = profile({"x": [1.0, 2.0, math.inf, -math.inf, math.nan]}).features["x"]
    assert (window.count, window.missing, window.out_of_range) == (2, 1, 2)
    assert window.mean == 1.5 and window.std == 0.5


def test_a_profile_stored_with_an_overflowed_m2_is_read_back() -> None:
    """Profiles stored before std replaced m2 (the sum of squared deviations) still load;
    one whose m2 overflowed to inf has its std recomputed from its values."""
    import io

    window = profile({"x": [1.7e308, -1.7e308, 0.0]})
    with np.load(io.BytesIO(window.to_bytes())) as archive:
        arrays = {k: archive[k] for k in archive.files}
    header = json.loads(arrays.pop("header").tobytes())
    meta = header["features"]["x"]
    for m2, expected in ((math.inf, window.features["x"].std), (8.0, math.sqrt(8.0 / 3))):
        meta.pop("std", None)
        meta.pop("out_of_range", None)
        meta["m2"] = m2
        buffer = io.BytesIO()
        np.savez(buffer, header=np.frombuffer(json.dumps(header).encode(), np.uint8), **arrays)
        restored = Profile.from_bytes(buffer.getvalue()).features["x"]
        assert restored.std == pytest.approx(expected) and restored.out_of_range == 0


def test_a_sketched_summary_with_extremes_keeps_its_mean() -> None:
    """Past EXACT_LIMIT distinct values the summary becomes a sketch; compressing sums
    value x weight, which overflowed for values near ±1.8e308."""
    rng = np.random.default_rng(0)
    values = np.concatenate([rng.normal(0, 1, 270_000), [FLOAT_MAX, -FLOAT_MAX, 1.7e308]])
    summary = profile({"x": values}).features["x"]
    assert not summary.exact and len(summary.values) == 4_096
    assert np.isfinite(summary.values).all()
    assert summary.values[0] < summary.values[-1]
    assert summary.mean == pytest.approx(1.7e308 / len(values), rel=1e-9)
    merged = summary.merge(summary)
    assert merged.mean == pytest.approx(summary.mean) and merged.std == pytest.approx(summary.std)
    reference = profile({"x": rng.normal(0, 1, 500)})
    window = profile({"x": values}, reference=reference).features["x"]
    for method in ("ks", "wasserstein", "psi", "jensenshannon"):
        _check_verdict(judge("x", reference.features["x"], window, method=method))
