"""``ailayer stream run`` and ``ailayer infer``: the event-driven workers.

Both run in this process on the configured stores and bus (``ailayer.yaml`` /
``AILAYER_*``), for the tenant of the API key, until SIGTERM/SIGINT or, with
``--until-idle``, until their group has nothing left to do.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import click

from ailayer.bootstrap import Services
from ailayer.cli import context
from ailayer.cli.output import print_json, print_table, wide_option
from ailayer.core.errors import InvalidInput, NotFound
from ailayer.events.consumer import ConsumerRunner, run_until_signalled
from ailayer.events.idempotency import open_idempotency_store
from ailayer.events.metrics import keep_lag_fresh
from ailayer.governance.roles import Permission

until_idle_option = click.option("--until-idle", is_flag=True, help="Exit once the lag is 0.")


def _on_signals(stop: Callable[[], None]) -> Callable[[], None]:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop)
    return lambda: [loop.remove_signal_handler(s) for s in (signal.SIGTERM, signal.SIGINT)]


@click.group("stream")
def stream_group() -> None:
    """Stream feature views: aggregate events into the online and offline stores."""


@stream_group.command("run")
@click.argument("views", nargs=-1, required=True)
@click.option("--batch-size", type=click.IntRange(1, 1000), default=1000, show_default=True)
@click.option("--flush-interval", type=click.FloatRange(min=0.01), default=0.5, show_default=True)
@click.option(
    "--clock",
    type=click.Choice(["wall", "event"]),
    default="wall",
    show_default=True,
    help="wall: windows decay in real time; event: time moves with events (replays).",
)
@until_idle_option
@context.metrics_port_option
@context.key_option
@context.json_option
@wide_option
def stream_run(
    views: tuple[str, ...],
    batch_size: int,
    flush_interval: float,
    clock: str,
    until_idle: bool,
    metrics_port: int | None,
    api_key: str | None,
    as_json: bool,
    wide: bool,
) -> None:
    """Run the stream feature VIEWS of the key's tenant on their topics.

    Worker: its own process on the configured stores and bus (no server needed).
    """
    from ailayer.features.streaming.gc_tuning import tune_gc_for_streaming

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    options = {
        "batch_size": batch_size, "flush_interval": flush_interval, "clock": clock,
        "stop_when_idle": until_idle, "fetch_timeout": 0.25 if until_idle else 0.5,
    }  # fmt: skip
    with context.tenant_services(api_key, Permission.FEATURES_WRITE) as (services, tenant):
        found = _stream_views(services, tenant, views)
        tune_gc_for_streaming()
        rows = asyncio.run(_run_views(services, tenant, found, options, metrics_port))
    if as_json:
        print_json(rows)
    else:
        columns = ["view", "applied", "duplicates", "late_dropped", "skipped", "invalid", "rows"]
        print_table(rows, columns, title="stream views", wide=wide)


def _stream_views(services: Services, tenant: str, names: tuple[str, ...]) -> dict[str, Any]:
    """The tenant's stream feature views by name; an unknown or batch view is refused."""
    from ailayer.features.streaming import is_stream_view

    catalog = services.features.catalog(tenant)
    for name in names:
        if name not in catalog.views:
            raise NotFound(f"no feature view named {name!r}")
        if not is_stream_view(catalog.views[name]):
            raise InvalidInput(f"feature view {name!r} is not a stream feature view", field="views")
    return {name: catalog.views[name] for name in names}


async def _run_views(
    services: Services,
    tenant: str,
    views: dict[str, Any],
    options: dict[str, Any],
    metrics_port: int | None,
) -> list[dict[str, Any]]:
    """One ``StreamRunner`` per view until each stops; each view's counts."""
    from ailayer.features.streaming import StreamRunner

    root = services.offline.tenant_root(tenant)
    runners = [
        StreamRunner(
            services.bus,
            view,
            tenant,
            root,
            services.online,
            tombstones=services.tombstones,
            **options,
        )
        for view in views.values()
    ]
    restore = _on_signals(lambda: [r.stop() for r in runners])
    lag = asyncio.create_task(keep_lag_fresh(services.bus, runners)) if metrics_port else None
    try:
        with context.runner_metrics(runners, metrics_port):
            stats = await asyncio.gather(*(r.run() for r in runners))
    finally:
        restore()
        if lag is not None:
            lag.cancel()
        await services.aclose()
    return [{"view": n, **asdict(s)} for n, s in zip(views, stats, strict=True)]


@click.command("infer")
@click.argument("endpoint")
@click.option("--topic", required=True, help="Topic of the source events.")
@click.option("--group", default=None, help="Consumer group (default: infer-TENANTTAG-ENDPOINT).")
@click.option("--event-type", default=None, help="Only events of this type (default: all).")
@click.option("--result-topic", default=None, help="Default: TOPIC-results.")
@click.option("--result-type", default="ailayer.prediction.completed", show_default=True)
@click.option("--concurrency", type=click.IntRange(min=1), default=8, show_default=True)
@click.option("--max-attempts", type=click.IntRange(min=1), default=3, show_default=True)
@click.option("--idempotency", "idempotency_url", default=None, help="Default: sqlite in the home.")
@until_idle_option
@context.metrics_port_option
@context.key_option
def infer(
    endpoint: str,
    topic: str,
    group: str | None,
    event_type: str | None,
    result_topic: str | None,
    result_type: str,
    concurrency: int,
    max_attempts: int,
    idempotency_url: str | None,
    until_idle: bool,
    metrics_port: int | None,
    api_key: str | None,
) -> None:
    """Predict with ENDPOINT for each event on TOPIC and publish a result event.

    Worker: its own process on the configured stores and bus (no server needed).
    """
    from ailayer.core.process import enter_scratch_directory
    from ailayer.serving.async_inference import AsyncInference, inference_group

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    with context.tenant_services(api_key, Permission.PREDICT) as (services, tenant):
        store_url = idempotency_url or f"sqlite:///{services.settings.home / 'idempotency.db'}"
        group_name = group or inference_group(tenant, endpoint)
        enter_scratch_directory()  # models run away from the stores

        async def main() -> Any:
            handler = AsyncInference(
                services.predictor, services.bus, tenant, endpoint,
                result_topic or f"{topic}-results", event_type=event_type, result_type=result_type,
            )  # fmt: skip
            store = open_idempotency_store(store_url)
            runner = ConsumerRunner(
                services.bus, topic, group_name, handler, concurrency=concurrency,
                max_attempts=max_attempts, idempotency=store, stop_when_idle=until_idle,
                fetch_timeout=0.25 if until_idle else 1.0,
            )  # fmt: skip
            try:
                with context.runner_metrics([runner], metrics_port):
                    return await run_until_signalled(runner), handler.skipped
            finally:
                await store.close()
                await services.aclose()

        stats, skipped = asyncio.run(main())
    click.echo(
        f"{group_name}: processed {stats.processed}, duplicates {stats.duplicates}, "
        f"skipped {skipped}, retried {stats.retried}, dead-lettered {stats.dead_lettered}"
    )
