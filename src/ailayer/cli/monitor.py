"""``ailayer monitor``: evaluate alert rules on a schedule, and declare rules.

The monitor loop is a worker process of its own on the configured stores (scale-out runs
it beside the servers; ``ailayer up`` runs the same loop in a background thread). Rules
and alerts belong to a running deployment, so ``monitor rules`` and ``monitor alerts`` go
through its API with the key (the tenant is the key's).
"""

from __future__ import annotations

import threading

import click

from ailayer.bootstrap import alert_dispatcher, alert_monitor, start_retention, start_rollup
from ailayer.cli import context
from ailayer.cli.output import print_json, print_table, wide_option
from ailayer.cli.roles import database_ready, role_listener, role_port_option, stop_on_sigterm
from ailayer.monitoring.alerting import KINDS, OPS
from ailayer.monitoring.alerting.monitor import Monitor, Pass
from ailayer.monitoring.alerting.rules import DETECTORS, WINDOWS
from ailayer.retention.metrics import RetentionCollector

RULE_COLUMNS = ("name", "kind", "endpoint", "metric", "window", "op", "threshold", "for_")


@click.group("monitor", invoke_without_command=True)
@click.option("--once", is_flag=True, help="Evaluate once, deliver, and exit.")
@click.option(
    "--interval",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Seconds between passes (default: the monitor_interval_seconds setting).",
)
@role_port_option
@click.pass_context
def monitor_group(
    ctx: click.Context, once: bool, interval: float | None, metrics_port: int | None
) -> None:
    """Evaluate every tenant's alert rules on every endpoint, on a schedule; enforce the
    retention settings too (every retention.interval_seconds) and fold new prediction log
    parts into the console's rollups (every rollup_interval_seconds).

    Worker: its own process on the configured stores and bus (no server needed).
    """
    if ctx.invoked_subcommand is not None:
        return
    with context.local_services() as services:
        every = interval or services.settings.monitor_interval_seconds
        if not once and every <= 0:
            raise click.ClickException("--interval must be above 0 (or use --once)")
        dispatcher = alert_dispatcher(services)
        monitor = alert_monitor(services, dispatcher)
        try:
            if once:
                monitor.resend_pending()
                _print_pass(monitor.run_once())
            else:
                ready = database_ready(services)
                retention = start_retention(services)  # old data, as `up` removes it
                rollup = start_rollup(services)  # the console's log rollups, as in `up`
                collectors = [RetentionCollector(retention.job)] if retention else []
                try:
                    with role_listener(collectors, metrics_port, services.settings.host, ready):
                        click.echo(f"evaluating alert rules every {every:g} s (Ctrl-C stops)")
                        _run_forever(monitor, every)
                finally:
                    if rollup is not None:
                        rollup.stop()
                    if retention is not None:
                        retention.stop()
        finally:
            dispatcher.close()
        if once:
            click.echo(f"delivered {dispatcher.delivered}, failed {dispatcher.failed}")


def _run_forever(monitor: Monitor, interval: float) -> None:
    """Passes until SIGTERM (after the pass under way) or Ctrl-C."""
    stop = threading.Event()
    try:
        with stop_on_sigterm(stop):
            monitor.run(interval, stop, _print_pass)
    except KeyboardInterrupt:
        stop.set()


def _print_pass(done: Pass) -> None:
    for alert in done.alerts:
        click.echo(
            f"{alert.status:<8} {alert.rule} {alert.endpoint} {alert.model} v{alert.version} "
            f"{alert.metric}={alert.value:.4g} ({alert.op} {alert.threshold:g})"
        )
    for error in done.errors:
        click.echo(f"error    {error}", err=True)
    click.echo(
        f"evaluated {done.evaluated} endpoint(s): {len(done.alerts)} change(s), "
        f"{len(done.errors)} error(s)"
    )


@monitor_group.group("rules")
def rules_group() -> None:
    """Alert rules of the key's tenant, through the /v1/alerts/rules API."""


@rules_group.command("list")
@context.url_option
@context.key_option
@context.json_option
@wide_option
def rules_list(url: str | None, api_key: str | None, as_json: bool, wide: bool) -> None:
    """List the rules of the key's tenant.

    Uses the API at --url with --api-key.
    """
    with context.client(url, api_key) as client:
        rules = client.list_alert_rules()
    if as_json:
        print_json(rules)
    else:
        print_table(rules, RULE_COLUMNS, title="alert rules", wide=wide)


@rules_group.command("add")
@click.argument("name")
@click.option("--kind", type=click.Choice(KINDS), default="metric", show_default=True)
@click.option("--metric", default="", help="Dotted window path (metric, change) or p95/p99.")
@click.option("--window", type=click.Choice(WINDOWS), default="hour", show_default=True)
@click.option("--op", type=click.Choice(list(OPS)), default=">", show_default=True)
@click.option("--threshold", type=float, default=0.0, show_default=True)
@click.option("--for", "for_", type=int, default=1, show_default=True, help="Breaches in a row.")
@click.option("--endpoint", default=None, help="One endpoint (default: every endpoint).")
@click.option("--detector", type=click.Choice(DETECTORS), default="adwin", show_default=True)
@click.option("--webhook-url", default=None, help="Where to POST signed notifications.")
@click.option(
    "--webhook-secret",
    envvar="AILAYER_WEBHOOK_SECRET",
    default=None,
    help="Signing secret (default: AILAYER_WEBHOOK_SECRET).",
)
@context.url_option
@context.key_option
def rules_add(name: str, url: str | None, api_key: str | None, **fields: object) -> None:
    """Add rule NAME to the key's tenant (one line and exit 1 when a field is wrong).

    Uses the API at --url with --api-key.
    """
    rule = {"name": name, **fields}
    rule["for"] = rule.pop("for_")
    with context.client(url, api_key) as client:
        added = client.add_alert_rule(rule)
    click.echo(f"added {added['kind']} rule {name!r}")


@rules_group.command("remove")
@click.argument("name")
@context.url_option
@context.key_option
def rules_remove(name: str, url: str | None, api_key: str | None) -> None:
    """Remove rule NAME and its state (the notification history stays).

    Uses the API at --url with --api-key.
    """
    with context.client(url, api_key) as client:
        client.remove_alert_rule(name)
    click.echo(f"removed rule {name!r}")


@monitor_group.command("alerts")
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True)
@context.url_option
@context.key_option
@context.json_option
@wide_option
def alerts(limit: int, url: str | None, api_key: str | None, as_json: bool, wide: bool) -> None:
    """What fires now, and the latest notifications with their delivery outcome.

    Uses the API at --url with --api-key.
    """
    with context.client(url, api_key) as client:
        body = client.alerts(limit)
    if as_json:
        print_json(body)
        return
    columns = ("rule", "endpoint", "model", "version", "value", "since")
    print_table(body["firing"], columns, "firing", wide=wide)
    columns = ("rule", "status", "endpoint", "version", "value", "delivery", "error")
    print_table(body["history"], columns, "notifications", wide=wide)
