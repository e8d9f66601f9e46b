"""Choosing the batch engine, and Spark's failures as clear errors naming the setting:
pyspark missing, an unreachable master (fast, never a hang)."""

from __future__ import annotations

import sys
import time

import pytest

from ailayer.core.errors import BackendUnavailable, InvalidInput
from ailayer.core.settings import load_settings
from ailayer.features.engines import open_engine
from ailayer.features.engines.spark import SparkEngine
from ailayer.features.engines.spark_session import master_addresses, probe_master


def test_duckdb_is_the_default_and_spark_starts_nothing_until_used() -> None:
    settings = load_settings()
    assert (settings.batch_engine, settings.spark_master) == ("duckdb", "local[*]")
    assert open_engine(settings.batch_engine).name == "duckdb"
    engine = open_engine("spark", master="spark://127.0.0.1:1")
    assert isinstance(engine, SparkEngine) and engine._session is None


def test_unknown_engine_names_the_setting() -> None:
    with pytest.raises(InvalidInput) as caught:
        open_engine("ray")
    assert caught.value.field == "batch_engine"
    with pytest.raises(ValueError, match="batch_engine"):
        load_settings(batch_engine="ray")


@pytest.mark.parametrize(
    ("master", "addresses"),
    [
        ("local[2]", []),
        ("yarn", []),
        ("spark://h1:7077,h2:7078", [("h1", 7077), ("h2", 7078)]),
        ("spark://h1", [("h1", 7077)]),
        ("k8s://https://api.example.com:6443", [("api.example.com", 6443)]),
        ("k8s://https://api.example.com", [("api.example.com", 443)]),
    ],
)
def test_master_addresses(master: str, addresses: list) -> None:
    assert master_addresses(master) == addresses


def test_unreachable_master_is_a_quick_error_naming_the_setting() -> None:
    pytest.importorskip("pyspark")
    engine = SparkEngine("spark://127.0.0.1:1", timeout_seconds=2)
    started = time.monotonic()
    with pytest.raises(BackendUnavailable) as caught:
        engine.session()
    assert time.monotonic() - started < 5
    assert "spark_master 'spark://127.0.0.1:1'" in caught.value.message
    assert "127.0.0.1:1" in caught.value.message and "batch_engine" in caught.value.message


def test_unroutable_master_times_out_instead_of_hanging() -> None:
    started = time.monotonic()
    with pytest.raises(BackendUnavailable, match="spark_master"):
        probe_master("spark://192.0.2.1:7077", timeout=1)  # TEST-NET-1: never answers
    assert time.monotonic() - started < 3


def test_missing_pyspark_names_the_setting_and_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pyspark", None)  # import pyspark now raises ImportError
    with pytest.raises(BackendUnavailable) as caught:
        SparkEngine("local[1]").session()
    assert "batch_engine is 'spark' but pyspark is not installed" in caught.value.message
    assert "ailayer[spark]" in caught.value.message
