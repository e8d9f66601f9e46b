"""``ailayer consume`` and ``ailayer events dlq``: run a consumer group, inspect dead letters.

Both build the bus in-process from the settings' ``event_bus`` (no server needed).
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

import click

from ailayer.bootstrap import events_usage
from ailayer.cli import context
from ailayer.cli.output import print_json, print_table, wide_option
from ailayer.events import EventBus, open_bus
from ailayer.events.consumer import ConsumerRunner, RunnerStats, run_until_signalled
from ailayer.events.deadletter import dead_letter_topic as default_dlq_topic
from ailayer.events.deadletter import list_dead_letters, replay_dead_letters
from ailayer.events.handlers import load_handler
from ailayer.events.idempotency import open_idempotency_store
from ailayer.events.retry import Backoff

T = TypeVar("T")


def _with_bus(work: Callable[[EventBus], Awaitable[T]]) -> T:
    async def main() -> T:
        bus = open_bus(context.settings().event_bus)
        try:
            return await work(bus)
        finally:
            await bus.close()

    return asyncio.run(main())


def _importable_cwd() -> None:
    """Let ``--handler`` name modules in the working directory, as uvicorn does."""
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())


@click.command("consume")
@click.argument("group")
@click.option("--topic", required=True, help="Topic to consume.")
@click.option("--handler", "handler_path", required=True, help="package.module:function")
@click.option("--concurrency", type=click.IntRange(min=1), default=8, show_default=True)
@click.option("--batch-size", type=click.IntRange(1, 1000), default=100, show_default=True)
@click.option("--max-attempts", type=click.IntRange(min=1), default=5, show_default=True)
@click.option(
    "--backoff",
    type=(float, float),
    default=(0.5, 60.0),
    show_default=True,
    help="Retry delay base and maximum, seconds.",
)
@click.option("--ack-wait", type=click.FloatRange(min=0.1), default=30.0, show_default=True)
@click.option(
    "--idempotency",
    "idempotency_url",
    default=None,
    help="Processed-id store URL (default: sqlite in the ailayer home).",
)
@click.option("--dead-letter-topic", default=None, help="Default: TOPIC-dlq.")
@click.option("--until-idle", is_flag=True, help="Exit once the group's lag is 0.")
@context.metrics_port_option
def consume(
    group: str,
    topic: str,
    handler_path: str,
    concurrency: int,
    batch_size: int,
    max_attempts: int,
    backoff: tuple[float, float],
    ack_wait: float,
    idempotency_url: str | None,
    dead_letter_topic: str | None,
    until_idle: bool,
    metrics_port: int | None,
) -> None:
    """Run HANDLER for every event of TOPIC in consumer GROUP until SIGTERM/SIGINT.

    Worker: its own process on the configured event bus (no server needed).
    """
    _importable_cwd()
    handler = load_handler(handler_path)
    store_url = idempotency_url or f"sqlite:///{context.settings().home / 'idempotency.db'}"
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")

    async def work(bus: EventBus) -> RunnerStats:
        store = open_idempotency_store(store_url)
        runner = ConsumerRunner(
            bus, topic, group, handler,
            concurrency=concurrency, batch_size=batch_size, max_attempts=max_attempts,
            backoff=Backoff(base=backoff[0], max=backoff[1]), ack_wait=ack_wait,
            idempotency=store, dead_letter_topic=dead_letter_topic, stop_when_idle=until_idle,
            fetch_timeout=0.25 if until_idle else 1.0,
        )  # fmt: skip
        usage = events_usage(context.settings())  # events in and out, for `ailayer cost`
        await usage.start()
        try:
            with context.runner_metrics([runner], metrics_port):
                return await run_until_signalled(runner)
        finally:
            await store.close()
            await usage.stop()
            usage.meter.db.dispose()

    stats = _with_bus(work)
    click.echo(
        f"{group}: processed {stats.processed}, duplicates {stats.duplicates}, "
        f"retried {stats.retried}, dead-lettered {stats.dead_lettered}, "
        f"released {stats.released}"
    )


@click.group("events")
def events_group() -> None:
    """The event bus: dead letters."""


@events_group.group("dlq")
def dlq_group() -> None:
    """Events that failed every attempt, kept with their error."""


topic_option = click.option("--topic", required=True, help="The topic the events failed on.")
dlq_option = click.option("--dead-letter-topic", default=None, help="Default: TOPIC-dlq.")
limit_option = click.option("--limit", type=click.IntRange(1, 1000), default=100, show_default=True)

COLUMNS = ["id", "type", "tenant", "dlqgroup", "dlqattempts", "dlqtime", "dlqerror"]


@dlq_group.command("list")
@topic_option
@dlq_option
@limit_option
@context.json_option
@wide_option
def dlq_list(
    topic: str, dead_letter_topic: str | None, limit: int, as_json: bool, wide: bool
) -> None:
    """Show dead letters of TOPIC, oldest first, leaving them in place.

    Operator: reads the configured event bus directly (the API has no route for it).
    """
    source = _dlq(topic, dead_letter_topic)
    letters = _with_bus(lambda bus: list_dead_letters(bus, source, limit))
    rows = [event.to_dict() for event in letters]
    if as_json:
        print_json(rows)
    else:
        print_table(rows, COLUMNS, title=f"{len(rows)} dead letter(s) in {source}", wide=wide)


@dlq_group.command("replay")
@topic_option
@dlq_option
@limit_option
@context.json_option
def dlq_replay(topic: str, dead_letter_topic: str | None, limit: int, as_json: bool) -> None:
    """Republish dead letters to the topic they failed on, and remove them.

    Operator: works on the configured event bus directly (the API has no route for it).
    """
    source = _dlq(topic, dead_letter_topic)
    replayed = _with_bus(lambda bus: replay_dead_letters(bus, source, limit, default_topic=topic))
    if as_json:
        print_json([{"topic": t, "id": event.id} for t, event in replayed])
    else:
        click.echo(f"replayed {len(replayed)} event(s) from {source}")


def _dlq(topic: str, override: str | None) -> str:
    return override or default_dlq_topic(topic)
