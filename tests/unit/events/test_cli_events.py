"""``ailayer consume`` and ``ailayer events dlq list|replay`` in-process, on the embedded bus."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from ailayer.cli.main import cli
from ailayer.events import new_event, open_bus
from tests.support import cli_handlers

HANDLER = "tests.support.cli_handlers:record"


@pytest.fixture
def bus_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"embedded://{tmp_path / 'bus.db'}"
    monkeypatch.setenv("AILAYER_EVENT_BUS", url)
    monkeypatch.setenv("AILAYER_HOME", str(tmp_path / "home"))
    cli_handlers.SEEN.clear()
    return url


def publish(url: str, numbers: list[int]) -> None:
    async def main() -> None:
        bus = open_bus(url)
        sent = [new_event("payment.created", "/billing", {"n": n}, tenant="t1") for n in numbers]
        await bus.publish("payments", sent)
        await bus.close()

    asyncio.run(main())


def consume(*extra: str):  # type: ignore[no-untyped-def]
    args = ["consume", "fraud", "--topic", "payments", "--handler", HANDLER, "--until-idle"]
    return CliRunner().invoke(
        cli, [*args, "--max-attempts", "2", "--backoff", "0.01", "0.02", *extra]
    )


def test_consume_runs_the_handler_and_dead_letters_failures(bus_url: str) -> None:
    publish(bus_url, [1, -1, 2])
    result = consume()
    assert result.exit_code == 0, result.output
    assert sorted(cli_handlers.SEEN) == [1, 2]
    assert "processed 2" in result.output and "dead-lettered 1" in result.output

    listed = CliRunner().invoke(cli, ["events", "dlq", "list", "--topic", "payments", "--json"])
    assert listed.exit_code == 0, listed.output
    (letter,) = json.loads(listed.output)
    assert letter["data"] == {"n": -1} and letter["dlqerror"] == "ValueError: negative n -1"
    table = CliRunner().invoke(cli, ["events", "dlq", "list", "--topic", "payments"])
    assert "1 dead letter(s) in payments-dlq" in table.output

    replayed = CliRunner().invoke(cli, ["events", "dlq", "replay", "--topic", "payments"])
    assert replayed.exit_code == 0 and "replayed 1 event(s)" in replayed.output
    again = CliRunner().invoke(cli, ["events", "dlq", "list", "--topic", "payments", "--json"])
    assert json.loads(again.output) == []
    assert "dead-lettered 1" in consume().output  # still poison: back in the dead letters


def test_consume_reprocesses_nothing_it_already_applied(bus_url: str) -> None:
    publish(bus_url, [1, 2])
    assert consume().exit_code == 0
    assert "processed 0" in consume().output and sorted(cli_handlers.SEEN) == [1, 2]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--handler", "nope"], "package.module:function"),
        (["--handler", "tests.support.cli_handlers:nothing"], "not a callable"),
        (["--topic", "Bad Topic"], "topic must be"),
    ],
)
def test_bad_input_is_one_clear_line(bus_url: str, args: list[str], message: str) -> None:
    base = {"--topic": "payments", "--handler": HANDLER}
    base.update(dict(zip(args[::2], args[1::2], strict=True)))
    flat = [item for pair in base.items() for item in pair]
    result = CliRunner().invoke(cli, ["consume", "fraud", *flat, "--until-idle"])
    assert result.exit_code == 1
    assert message in result.output and len(result.output.strip().splitlines()) == 1


def test_consume_serves_lag_and_counts_on_its_metrics_port(bus_url: str) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    from tests.support.services import free_port

    port = free_port()
    cli_handlers.METRICS_PORT[:] = [port]
    cli_handlers.SCRAPES.clear()
    cli_handlers.READINESS.clear()
    publish(bus_url, [1, 2, 3])
    handler = "tests.support.cli_handlers:scrape_metrics"
    result = CliRunner().invoke(
        cli,
        ["consume", "scorer", "--topic", "payments", "--handler", handler, "--until-idle",
         "--concurrency", "1", "--metrics-port", str(port)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert len(cli_handlers.SCRAPES) == 3
    assert cli_handlers.READINESS == [200, 200, 200]  # subscribed and fetching: ready
    samples = {
        (s.name, s.labels.get("outcome")): s.value
        for family in text_string_to_metric_families(cli_handlers.SCRAPES[-1])
        for s in family.samples
        if s.labels.get("group") == "scorer" and s.labels.get("topic") == "payments"
    }
    assert samples[("ailayer_consumer_events_total", "processed")] == 2  # the third is running
    assert samples[("ailayer_consumer_lag", None)] >= 1
    assert samples[("ailayer_consumer_in_flight", None)] == 1
    with pytest.raises(httpx.ConnectError):  # the server stops with the runner
        httpx.get(f"http://127.0.0.1:{port}/metrics")
