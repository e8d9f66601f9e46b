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

from ailayer.bootstrap import Services, build
from ailayer.cli import context
from ailayer.cli.output import print_json, print_table, wide_option
from ailayer.core.errors import InvalidInput, NotFound
from ailayer.events.consumer import ConsumerRunner, run_until_signalled
from ailayer.events.idempotency import open_idempotency_store
from ailayer.events.metrics import keep_lag_fresh
from ailayer.governance.roles import Permission

until_idle_option = click.option("--until-idle", is_flag=True, help="Exit once the lag is 0.")


def _services(api_key: str | None, permission: Permission) -> tuple[Services, str]:
    services = build(context.load_settings())
    try:
        principal = services.keys.authenticate(context.api_key(api_key, services.settings))
        principal.require(permission)
    except Exception:
        services.close()
        raise
    return services, principal.tenant_id


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
    from ailayer.features.streaming import StreamRunner, is_stream_view
    from ailayer.features.streaming.gc_tuning import tune_gc_for_streaming

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    services, tenant = _services(api_key, Permission.FEATURES_WRITE)
    catalog = services.features.catalog(tenant)
    for name in views:
        if name not in catalog.views:
            raise NotFound(f"no feature view named {name!r}")
        if not is_stream_view(catalog.views[name]):
            raise InvalidInput(f"feature view {name!r} is not a stream feature view", field="views")

    async def main() -> list[dict[str, Any]]:
        options = {
            "batch_size": batch_size, "flush_interval": flush_interval, "clock": clock,
            "stop_when_idle": until_idle, "fetch_timeout": 0.25 if until_idle else 0.5,
        }  # fmt: skip
        root = services.offline.tenant_root(tenant)
        runners = [
            StreamRunner(services.bus, catalog.views[n], tenant, root, services.online, **options)
            for n in views
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

    tune_gc_for_streaming()
    try:
        rows = asyncio.run(main())
    finally:
        services.close()
    if as_json:
        print_json(rows)
    else:
        columns = ["view", "applied", "duplicates", "late_dropped", "skipped", "invalid", "rows"]
        print_table(rows, columns, title="stream views", wide=wide)


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
    services, tenant = _services(api_key, Permission.PREDICT)
    store_url = idempotency_url or f"sqlite:///{services.settings.home / 'idempotency.db'}"
    group_name = group or inference_group(tenant, endpoint)
    enter_scratch_directory()  # models run away from the stores

    async def main() -> Any:
        handler = AsyncInference(
            services.predictor, services.bus, tenant, endpoint, result_topic or f"{topic}-results",
            event_type=event_type, result_type=result_type,
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

    try:
        stats, skipped = asyncio.run(main())
    finally:
        services.close()
    click.echo(
        f"{group_name}: processed {stats.processed}, duplicates {stats.duplicates}, "
        f"skipped {skipped}, retried {stats.retried}, dead-lettered {stats.dead_lettered}"
    )
