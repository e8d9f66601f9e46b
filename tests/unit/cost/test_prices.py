"""The price table: complete by default, refused with the resource named otherwise."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from ailayer.core.prices import DEFAULT_PRICES, RESOURCES, check_prices
from ailayer.core.settings import load_settings


def test_the_defaults_price_every_resource() -> None:
    assert set(load_settings().prices) == set(RESOURCES)
    assert check_prices(DEFAULT_PRICES) == DEFAULT_PRICES


def test_a_table_missing_a_resource_is_refused_naming_it(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    partial = {k: v for k, v in DEFAULT_PRICES.items() if k != "spot_cpu_hour"}
    monkeypatch.setenv("AILAYER_PRICES", __import__("json").dumps(partial))
    with pytest.raises(ValidationError, match=r"prices\.spot_cpu_hour is missing"):
        load_settings()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"cpu_hour": -1}, r"prices\.cpu_hour must be a finite number >= 0"),
        ({"cpu_hour": float("inf")}, r"prices\.cpu_hour must be a finite number >= 0"),
        ({"cpu_hour": "cheap"}, r"prices\.cpu_hour must be a number"),
        ({"cpu_hour": True}, r"prices\.cpu_hour must be a number"),
        ({"gpu_hour": 1.0}, r"prices\.gpu_hour is not a known resource"),
    ],
)
def test_bad_prices_are_refused_naming_the_resource(change: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        load_settings(prices={**DEFAULT_PRICES, **change})


def test_an_edited_table_is_used_as_written() -> None:
    settings = load_settings(prices={**DEFAULT_PRICES, "cpu_hour": 0.1})
    assert settings.prices["cpu_hour"] == 0.1
