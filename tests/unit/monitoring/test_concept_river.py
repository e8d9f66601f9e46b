"""The concept drift detectors signal at the same indices as river's, drift after drift.

river (a test dependency) is the reference implementation the defaults and the restart
rule come from: after a drift each detector starts afresh on the next update. Streams
here change several times, so a detector that kept its window after an alarm (and so
fired again and again on the same change) would differ from river's after its first alarm.
"""

from __future__ import annotations

import numpy as np
import pytest
from river import drift as river_drift

from ailayer.monitoring.concept import ADWIN, DDM, PageHinkley

SEEDS = range(20)


def _alarms(detector, stream: np.ndarray) -> list[int]:  # type: ignore[no-untyped-def]
    """Indices where ``detector`` signals drift (river's ``update`` returns None)."""
    found = []
    for i, x in enumerate(stream):
        detector.update(float(x))
        if detector.drift_detected:
            found.append(i)
    return found


def gaussian_changes(seed: int) -> np.ndarray:
    """Four segments of 1,500 values whose mean moves three times."""
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.normal(mean, 1, 1_500) for mean in (0.0, 1.5, -0.5, 2.0)])


def error_rate_changes(seed: int) -> np.ndarray:
    """0/1 errors whose rate moves three times (10% → 40% → 15% → 60%)."""
    rng = np.random.default_rng(seed)
    rates = (0.1, 0.4, 0.15, 0.6)
    return np.concatenate([rng.random(2_000) < p for p in rates]).astype(float)


@pytest.mark.parametrize("make", [gaussian_changes, error_rate_changes])
def test_adwin_alarms_equal_rivers(make) -> None:  # type: ignore[no-untyped-def]
    for seed in SEEDS:
        stream = make(seed)
        assert _alarms(ADWIN(), stream) == _alarms(river_drift.ADWIN(), stream), seed


def test_adwin_signals_each_change_once_as_river_does() -> None:
    """One alarm per change on average, as river's (before, it kept firing after each)."""
    alarms = [_alarms(ADWIN(), np.concatenate(s)) for s in _two_segment_streams()]
    assert sum(len(a) for a in alarms) / len(alarms) == pytest.approx(1.0, abs=0.1)
    assert all(a and 3_000 <= a[0] < 3_200 for a in alarms)


def _two_segment_streams() -> list[tuple[np.ndarray, np.ndarray]]:
    streams = []
    for seed in SEEDS:
        rng = np.random.default_rng(seed)
        streams.append((rng.normal(0, 1, 3_000), rng.normal(1.5, 1, 3_000)))
    return streams


def test_adwin_window_restarts_after_a_drift() -> None:
    rng = np.random.default_rng(5)
    adwin = ADWIN()
    stream = np.concatenate([rng.normal(0, 1, 2_000), rng.normal(3, 1, 2_000)])
    first = _alarms(adwin, stream)[0]
    adwin, reference = ADWIN(), river_drift.ADWIN()
    for x in stream[: first + 2]:
        adwin.update(float(x))
        reference.update(float(x))
    assert adwin.width_ == reference.width == 1
    assert adwin.estimation == pytest.approx(reference.estimation)
    assert adwin.n_detections_ == 1


def test_ddm_and_page_hinkley_alarms_equal_rivers() -> None:
    for seed in SEEDS:
        errors, values = error_rate_changes(seed), gaussian_changes(seed)
        assert _alarms(DDM(), errors) == _alarms(river_drift.binary.DDM(), errors), seed
        for stream in (errors, values):
            mine, theirs = (
                _alarms(PageHinkley(), stream),
                _alarms(river_drift.PageHinkley(), stream),
            )
            assert mine == theirs, seed
