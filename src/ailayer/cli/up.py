"""``ailayer up`` and ``ailayer serve``: set up the embedded demo once, then serve.

First run: create the home directory, migrate, create an admin key (printed once, kept
in ``credentials`` with mode 0600), train the demo fraud model with a progress bar,
register it and point ``champion`` at it. Every run: serve and print a working curl.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import click
import uvicorn
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from ailayer.api.app import create_app
from ailayer.api.early import uvicorn_protocol
from ailayer.api.metrics import open_metrics
from ailayer.bootstrap import (
    Services,
    build,
    build_worker,
    start_alert_monitor,
    start_retention,
    start_rollout_controller,
    start_rollup,
    start_scheduler,
    worker_usage,
)
from ailayer.cli import context
from ailayer.cli.output import console
from ailayer.cli.roles import stop_on_sigterm
from ailayer.cli.server_record import connect_url, recorded
from ailayer.core.errors import NotFound, Unauthenticated
from ailayer.core.process import enter_scratch_directory, freeze_startup_objects
from ailayer.core.settings import Settings, redacted
from ailayer.demo import concept_drift
from ailayer.demo.concept_drift import SETTINGS as SCENARIO_SETTINGS
from ailayer.demo.concept_drift import Plan
from ailayer.demo.fraud import DEMO_MODEL, train_fraud_model
from ailayer.retention import RetentionThread
from ailayer.retention.metrics import RetentionCollector
from ailayer.rollout.controller import ControllerThread
from ailayer.rollout.metrics import ControllerCollector

DEFAULT_TENANT = "default"
ADMIN_KEY_NAME = "admin"
TRAINING_STEPS = ("simulating payments", "training", "evaluating", "registering")
SCENARIOS = ("concept-drift",)


def ensure_admin_key(services: Services) -> str:
    """The admin key from the credentials file, creating tenant and key on first run."""
    path = services.settings.credentials_path
    key = context.read_credentials(path)
    if key is not None:
        return key
    tenant_id = services.keys.ensure_tenant(DEFAULT_TENANT)
    created = services.keys.create_key(tenant_id, ADMIN_KEY_NAME, "admin", actor="ailayer up")
    context.write_credentials(path, created.key)
    console.print(
        f"[bold]Created the admin API key[/bold] (shown once, kept in {path}, mode 0600):"
    )
    console.print(created.key, highlight=False, soft_wrap=True)
    return created.key


def ensure_demo_model(services: Services, api_key: str) -> dict[str, float] | None:
    """Train and register the demo model unless this tenant already has it."""
    try:
        principal = services.keys.authenticate(api_key)
    except Unauthenticated:
        raise Unauthenticated(
            f"the key in {services.settings.credentials_path} is not valid for "
            f"{redacted(services.settings.metadata_url)}; delete that file to create a new admin key"
        ) from None
    try:
        services.registry.get_model(principal.tenant_id, DEMO_MODEL)
        return None
    except NotFound:
        pass
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("training the demo fraud model", total=len(TRAINING_STEPS))

        def step(name: str) -> None:
            progress.update(task, description=name, completed=TRAINING_STEPS.index(name))

        trained = train_fraud_model(step)
        step("registering")
        version = services.registry.register(principal.tenant_id, principal.actor, trained.version)
        progress.update(task, completed=len(TRAINING_STEPS), description="done")
    auc = version.metrics["roc_auc"]
    console.print(f"Registered {DEMO_MODEL} v{version.version} (ROC AUC {auc:.3f}) as champion")
    return trained.example


def curl_example(services: Services, example: dict[str, float]) -> str:
    config = services.settings
    body = ", ".join(f'"{k}": {v}' for k, v in example.items())
    return (
        f"curl -s -X POST {connect_url(config.host, config.port)}/v1/predict/{DEMO_MODEL} \\\n"
        f'  -H "Authorization: Bearer $(cat {config.credentials_path})" \\\n'
        f"  -H 'Content-Type: application/json' \\\n"
        f"  -d '{{{body}}}'"
    )


DEMO_EXAMPLE = {
    "amount": 1890.0,
    "card_age_days": 2.0,
    "device_new": 1.0,
    "hour_of_day": 3.0,
    "payments_last_24h": 7.0,
    "foreign_country": 1.0,
}


def _serve(
    services: Services,
    host: str,
    port: int,
    rollout: ControllerThread | None = None,
    retention: RetentionThread | None = None,
) -> None:
    app = create_app(services)
    if rollout is not None:  # its counters on this app's /metrics
        app.state.metrics.registry.register(ControllerCollector(rollout.controller.counts))
    if retention is not None:  # what it removed, on this app's /metrics
        app.state.metrics.registry.register(RetentionCollector(retention.job))
    enter_scratch_directory()
    freeze_startup_objects()
    # uvicorn stops gracefully on SIGTERM, then raises it again for the handler from before
    # it ran: with this one, the process goes on to its clean-up and exits 0
    with stop_on_sigterm(threading.Event()), recorded(services.settings, host, port):
        uvicorn.run(
            app,
            host=host,
            port=port,
            log_level="info",
            access_log=False,
            http=uvicorn_protocol(),  # refuses known callers over their rate on headers
        )


@click.command("up")
@click.option("--host", default=None, help="Bind address (default from settings: 127.0.0.1).")
@click.option("--port", default=None, type=int, help="Port (default from settings: 8000).")
@click.option("--no-serve", is_flag=True, help="Set up the demo and exit without serving.")
@click.option(
    "--scenario",
    type=click.Choice(SCENARIOS),
    default=None,
    help="Play a scenario against this server instead of the demo model: concept-drift "
    "sends payments whose fraud pattern changes, and ailayer retrains, gates, canaries "
    "and promotes a new model by itself (docs/pipelines.md, 'The closed loop').",
)
def up(host: str | None, port: int | None, no_serve: bool, scenario: str | None) -> None:
    """Set up the embedded demo on first run, then serve predictions and the API.

    Set-up: works on the configured stores directly, then serves them; other commands
    find this server through .ailayer/server.json while it runs.
    """
    if scenario is not None and no_serve:
        raise click.UsageError("--scenario plays against the server: drop --no-serve")
    overrides = {k: v for k, v in (("host", host), ("port", port)) if v is not None}
    if scenario is not None:
        overrides = {**SCENARIO_SETTINGS, **overrides}
    services = build(context.load_settings(**overrides))
    key = ensure_admin_key(services)
    if scenario is not None:
        serve_scenario(services, key)
        return
    ensure_demo_model(services, key)
    console.print("\nTry a prediction:\n")
    click.echo(curl_example(services, DEMO_EXAMPLE))
    url = connect_url(services.settings.host, services.settings.port)
    where = services.settings.credentials_path
    console.print(
        f"\nWeb console: {url}/ui (sign in with an API key, e.g. the one in {where})",
        highlight=False,
        soft_wrap=True,
    )
    click.echo("")
    if services.settings.metrics_listen:  # opened by the app's lifespan, as in `serve`
        listen = services.settings.metrics_listen
        console.print(f"Prometheus metrics without a key (operator only): http://{listen}/metrics")
    if not no_serve:
        monitor = start_alert_monitor(services)  # alert rules, every monitor_interval_seconds
        rollout = start_rollout_controller(services)  # canaries, every rollout_interval_seconds
        pipelines = start_scheduler(services)  # triggers, every scheduler_interval_seconds
        retention = start_retention(services)  # old data, every retention.interval_seconds
        rollup = start_rollup(services)  # the console's log rollups, every rollup_interval_seconds
        try:
            _serve(services, services.settings.host, services.settings.port, rollout, retention)
        finally:
            if rollup is not None:
                rollup.stop()
            if retention is not None:
                retention.stop()
            if pipelines is not None:
                pipelines.stop()
            if rollout is not None:
                rollout.stop()
            if monitor is not None:
                monitor.stop()


def serve_scenario(services: Services, key: str) -> None:
    """Set the scenario up, then serve with the monitor, controller and scheduler while
    a thread plays its traffic against this server."""
    principal = services.keys.authenticate(key)
    say = scenario_say()
    concept_drift.set_up(services, principal.tenant_id, principal.actor, Plan(), say)
    monitor = start_alert_monitor(services)
    rollout = start_rollout_controller(services)
    pipelines = start_scheduler(services)
    url = connect_url(services.settings.host, services.settings.port)
    player = threading.Thread(
        target=play_scenario,
        args=(url, key, services, principal.tenant_id, say),
        name="ailayer-scenario",
        daemon=True,
    )
    player.start()
    try:
        _serve(services, services.settings.host, services.settings.port, rollout)
    finally:
        for running in (pipelines, rollout, monitor):
            if running is not None:
                running.stop()


def scenario_say() -> Callable[[str], None]:
    """Progress lines of the scenario, each flushed at once (others may watch the log)."""

    def say(line: str) -> None:
        click.echo(f"[scenario] {line}")
        sys.stdout.flush()

    return say


def play_scenario(
    url: str, key: str, services: Services, tenant_id: str, say: Callable[[str], None]
) -> None:
    """The scenario's traffic, once the server answers; a failure is said, not raised."""
    from ailayer.sdk import Client

    with Client(url, key) as client:
        try:
            _wait_for(client)
            concept_drift.play(client, services, tenant_id, Plan(), say)
        except Exception as exc:  # the server keeps serving: say what went wrong
            say(f"stopped: {type(exc).__name__}: {exc}")


def _wait_for(client: Any, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            client.list_endpoints()
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


ROLES = ("embedded", "gateway", "worker")
LOOPBACK = ("127.0.0.1", "::1", "localhost")
DEFAULT_WORKER_PORT = 8101


@click.command("serve")
@click.option(
    "--host", default=None, help="Bind address (default from settings; worker: 127.0.0.1)."
)
@click.option("--port", default=None, type=int, help="Port (default from settings; worker: 8101).")
@click.option("--workers", default=1, show_default=True, help="Server processes (uvicorn).")
@click.option(
    "--role",
    type=click.Choice(ROLES),
    default="embedded",
    show_default=True,
    help="embedded: the API and the models in one process. gateway: the API, handing every "
    "model call to model workers. worker: runs models for gateways (no API; /metrics on "
    "metrics_listen when set).",
)
@click.option(
    "--model-worker",
    "model_workers",
    multiple=True,
    metavar="HOST:PORT",
    help="A model worker of this gateway (repeat, or comma-separate; default: the setting "
    "model_workers).",
)
@click.option(
    "--metrics-listen",
    default=None,
    metavar="HOST:PORT",
    help="The keyless /metrics listener of this process (default: the setting "
    "metrics_listen). Give each process on one host its own.",
)
def serve(
    host: str | None,
    port: int | None,
    workers: int,
    role: str,
    model_workers: tuple[str, ...],
    metrics_listen: str | None,
) -> None:
    """Serve predictions and the API (no demo set-up), or run models for gateways.

    Set-up: serves the configured stores; other commands find an embedded or gateway
    server through .ailayer/server.json while it runs. A gateway and its workers share the
    settings (metadata, artifacts); see docs/serving.md, "Gateway and workers".
    """
    addresses = [a.strip() for given in model_workers for a in given.split(",") if a.strip()]
    if addresses and role != "gateway":
        raise click.UsageError("--model-worker is for --role gateway")
    listen: dict = {"metrics_listen": metrics_listen} if metrics_listen is not None else {}
    if role == "worker":
        config = context.load_settings(**listen)
        _serve_worker(config, host or "127.0.0.1", port or DEFAULT_WORKER_PORT)
        return
    overrides: dict = {**listen, "model_workers": addresses} if addresses else {**listen}
    if role == "embedded":
        overrides["model_workers"] = []  # models here, whatever the settings say
    config = context.load_settings(**overrides)
    if role == "gateway" and not config.model_workers:
        raise click.UsageError(
            "--role gateway needs model workers: --model-worker HOST:PORT or the setting "
            "model_workers"
        )
    bind_host = host if host is not None else config.host
    bind_port = port if port is not None else config.port
    if workers > 1:
        # each process builds its services from the environment: the role goes there too
        os.environ["AILAYER_MODEL_WORKERS"] = json.dumps(config.model_workers)
        os.environ["AILAYER_METRICS_LISTEN"] = config.metrics_listen
        with recorded(config, bind_host, bind_port):
            uvicorn.run(
                "ailayer.api.app:app_from_environment",
                factory=True,
                host=bind_host,
                port=bind_port,
                workers=workers,
                http=uvicorn_protocol(),
                log_level="info",
                access_log=False,
            )
        return
    _serve(build(config), bind_host, bind_port)


def _serve_worker(config: Settings, host: str, port: int) -> None:
    """A model worker until SIGINT or SIGTERM: the internal protocol on ``host:port``, its
    Prometheus series on ``metrics_listen`` (an address of its own: a taken one is an
    error, never scrapes shared with another process)."""
    if host not in LOOPBACK and config.model_worker_secret is None:
        raise click.UsageError(
            f"a model worker on {host} (beyond loopback) needs the setting model_worker_secret "
            "(AILAYER_MODEL_WORKER_SECRET), the same on its gateways"
        )
    worker = build_worker(config)
    usage = worker_usage(config, worker)
    enter_scratch_directory()
    freeze_startup_objects()
    _event_loop_policy()

    async def run() -> None:
        server = await worker.start(host, port)
        await usage.start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        console.print(f"ailayer model worker on {host}:{port}")
        if config.metrics_listen:
            console.print(
                f"Prometheus metrics (operator only): http://{config.metrics_listen}/metrics"
            )
        await stop.wait()
        server.close()
        await worker.close()
        await usage.stop()  # what it measured since its last write

    with open_metrics(worker.metrics.registry, config.metrics_listen, shared=False):
        asyncio.run(run())


def _event_loop_policy() -> None:
    """uvloop when installed, as uvicorn uses for the gateway: the hop is on the hot path."""
    try:
        import uvloop
    except ImportError:
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
