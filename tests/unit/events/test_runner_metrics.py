"""Runner metrics: one collector for consumer and stream runners, lag kept fresh."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from ailayer.events import new_event, open_bus
from ailayer.events.metrics import RunnerCollector, keep_lag_fresh
from ailayer.features.streaming.processor import StreamStats


def scrape(runners: list) -> dict:  # type: ignore[type-arg]
    registry = CollectorRegistry()
    registry.register(RunnerCollector(runners))
    text = generate_latest(registry).decode()
    return {
        (s.name, s.labels.get("group"), s.labels.get("outcome")): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_stream_runner_stats_become_counters_and_lag() -> None:
    stream = SimpleNamespace(
        topic="payments", group="view-amounts", stats=StreamStats(applied=5, late_dropped=2)
    )
    samples = scrape([stream])
    assert samples[("ailayer_consumer_events_total", "view-amounts", "applied")] == 5
    assert samples[("ailayer_consumer_events_total", "view-amounts", "late_dropped")] == 2
    assert ("ailayer_consumer_lag", "view-amounts", None) not in samples  # not measured yet
    stream.stats.lag = 7
    assert scrape([stream])[("ailayer_consumer_lag", "view-amounts", None)] == 7


def test_keep_lag_fresh_reads_the_brokers_lag(tmp_path: Path) -> None:
    async def main() -> int | None:
        bus = open_bus(f"embedded://{tmp_path / 'bus.db'}")
        try:
            await bus.subscribe("payments", "scorer", "c1")  # the group exists from here on
            events = [
                new_event("payment.created", "/billing", {"n": n}, tenant="t1") for n in range(4)
            ]
            await bus.publish("payments", events)
            runner = SimpleNamespace(topic="payments", group="scorer", stats=StreamStats())
            task = asyncio.create_task(keep_lag_fresh(bus, [runner], interval=0.01))
            for _ in range(200):
                if runner.stats.lag is not None:
                    break
                await asyncio.sleep(0.01)
            task.cancel()
            return runner.stats.lag
        finally:
            await bus.close()

    assert asyncio.run(main()) == 4
