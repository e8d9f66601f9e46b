"""Backoff delays, and turning ``module:function`` into a handler."""

from __future__ import annotations

import asyncio
import random
import threading

import pytest

from ailayer.core.errors import InvalidInput
from ailayer.events import Backoff
from ailayer.events.handlers import as_async, is_async, load_handler
from tests.support.events import events


def test_backoff_doubles_up_to_its_maximum_without_jitter() -> None:
    backoff = Backoff(base=0.5, max=3.0, jitter=0.0)
    assert [backoff.delay(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert backoff.delay(10_000) == 3.0


def test_jitter_only_shortens_and_spreads_delays() -> None:
    backoff = Backoff(base=1.0, max=60.0, jitter=0.5, rng=random.Random(7))
    delays = [backoff.delay(3) for _ in range(200)]
    assert all(2.0 <= d <= 4.0 for d in delays)
    assert len(set(delays)) > 100


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"base": 0}, "backoff"), ({"base": 5, "max": 1}, "backoff"), ({"jitter": 2}, "jitter")],
)
def test_bad_backoff_names_the_field(kwargs: dict, field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        Backoff(**kwargs)
    assert caught.value.field == field


def record_sync(event) -> str:  # type: ignore[no-untyped-def]
    return threading.current_thread().name


async def record_async(event) -> str:  # type: ignore[no-untyped-def]
    return threading.current_thread().name


def test_sync_handlers_run_off_the_event_loop_thread() -> None:
    event = events(1)[0]
    assert is_async(record_async) and not is_async(record_sync)
    loop_thread = threading.current_thread().name
    assert asyncio.run(as_async(record_async)(event)) == loop_thread
    assert asyncio.run(as_async(record_sync)(event)) != loop_thread


def test_load_handler_imports_module_function() -> None:
    path = "tests.unit.events.test_retry_and_handlers:record_async"
    assert load_handler(path) is record_async


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("no_colon", "package.module:function"),
        ("no.such.module:f", "cannot import"),
        ("tests.support.events:missing", "not a callable"),
    ],
)
def test_bad_handler_paths_say_what_is_wrong(path: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        load_handler(path)
