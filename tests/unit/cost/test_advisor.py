"""The cost advisor on traffic shapes whose right answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from ailayer.core.errors import InvalidInput
from ailayer.core.prices import DEFAULT_PRICES
from ailayer.cost.advisor import Assumptions, advise, cold_requests, right_size

MB = 1 << 20


def by_name(advice) -> dict:  # type: ignore[no-untyped-def]
    return {option.name: option for option in advice.options}


def test_steady_heavy_traffic_goes_to_replicas_not_functions() -> None:
    requests = np.full(1440, 6000.0)  # 100 requests a second, all day
    advice = advise(requests, requests, 3.0, 8.0, 0.004, 50 * MB, DEFAULT_PRICES)
    options = by_name(advice)
    assert options["serverless"].monthly_cost > options["dedicated"].monthly_cost
    assert advice.recommended in {"dedicated", "autoscaled", "spot"}
    # 100/s x 4 ms = 0.4 vCPU busy, at 60% utilisation 0.67: two 0.5 vCPU replicas
    assert advice.sizing.replica_cpu == 0.5 and advice.sizing.peak_replicas == 2


def test_sparse_traffic_goes_serverless_when_cold_starts_are_rare() -> None:
    requests = np.zeros(1440)
    requests[540:1020] = 2.0  # office hours, a request every 30 s
    advice = advise(requests, requests, 2.0, 4.0, 0.001, 20 * MB, DEFAULT_PRICES)
    assert advice.shape["cold_requests"] == 1
    assert advice.recommended == "serverless"
    assert by_name(advice)["serverless"].p99_ms == 4.0


def test_cold_starts_above_one_percent_set_the_serverless_p99() -> None:
    requests = np.zeros(1440)
    requests[::60] = 3.0  # three requests once an hour: each hour starts cold
    advice = advise(requests, requests, 2.0, 4.0, 0.001, 20 * MB, DEFAULT_PRICES)
    serverless = by_name(advice)["serverless"]
    assert serverless.p99_ms == pytest.approx(4140.0) and not serverless.meets_target
    assert advice.recommended != "serverless"


def test_bursts_faster_than_scale_up_put_autoscaling_at_risk() -> None:
    requests = np.full(1440, 60.0)
    requests[600:605] = 60_000.0  # a five-minute burst of 1,000 requests a second
    advice = advise(requests, requests, 2.0, 6.0, 0.005, 20 * MB, DEFAULT_PRICES)
    options = by_name(advice)
    assert not options["autoscaled"].meets_target and options["autoscaled"].p99_ms is None
    assert options["dedicated"].meets_target
    assert advice.shape["burstiness"] > 100


def test_replicas_are_right_sized_from_cpu_and_memory() -> None:
    predictions = np.full(1440, 60.0 * 1000)  # 1,000 predictions a second
    sizing = right_size(predictions, 5.0, 0.002, 900 * MB, Assumptions())
    # 1,000/s x 2 ms / 0.6 = 3.33 vCPU: two 2-vCPU replicas
    assert sizing.cpu_measured and sizing.replica_cpu == 2.0 and sizing.peak_replicas == 2
    assert sizing.replica_memory_gib == 1.75  # 512 MiB + 1.2 x 900 MiB, in 0.25 GiB steps
    unmeasured = right_size(predictions, 5.0, None, 0, Assumptions())
    assert not unmeasured.cpu_measured and unmeasured.cpu_per_prediction_ms == 5.0


def test_cold_requests_count_busy_minutes_after_a_quiet_spell() -> None:
    requests = np.zeros(100)
    requests[[0, 5, 30, 31, 50]] = 1
    assert cold_requests(requests, keep_warm=10) == 3  # 0, 30 and 50


def test_a_day_without_requests_is_refused() -> None:
    with pytest.raises(InvalidInput, match="no logged requests"):
        advise(np.zeros(1440), np.zeros(1440), None, None, None, 0, DEFAULT_PRICES)


def test_a_higher_price_changes_the_bill_in_proportion() -> None:
    requests = np.full(1440, 600.0)
    cheap = advise(requests, requests, 2.0, 5.0, 0.002, 0, DEFAULT_PRICES)
    dear = advise(
        requests,
        requests,
        2.0,
        5.0,
        0.002,
        0,
        {**DEFAULT_PRICES, "cpu_hour": 2 * DEFAULT_PRICES["cpu_hour"]},
    )
    assert by_name(dear)["dedicated"].monthly_cost > by_name(cheap)["dedicated"].monthly_cost
    assert by_name(dear)["serverless"].monthly_cost == by_name(cheap)["serverless"].monthly_cost
