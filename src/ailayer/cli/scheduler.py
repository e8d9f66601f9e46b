"""``ailayer scheduler``: launch pipelines when their schedules, new data or alerts fire.

A worker process of its own on the configured stores, like ``ailayer controller``
(``ailayer up`` runs the same loop in a background thread). Several replicas may run at
once: each firing is claimed by one of them, and a pipeline's lease lets one launch it
at a time; the others record the firing as skipped.
"""

from __future__ import annotations

import threading

import click

from ailayer.bootstrap import alert_listener, pipeline_scheduler
from ailayer.cli import context
from ailayer.cli.roles import database_ready, role_listener, role_port_option, stop_on_sigterm
from ailayer.pipelines.scheduler import FAILED, Decision, Scheduler


@click.command("scheduler")
@click.option("--once", is_flag=True, help="Check every schedule and new-data trigger once, "
              "print what fired, and exit (alerts are not read).")  # fmt: skip
@click.option(
    "--interval",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Seconds between passes (default: the scheduler_interval_seconds setting).",
)
@click.option(
    "--no-alerts",
    is_flag=True,
    help="Do not consume ailayer.alert.fired events (another replica does).",
)
@role_port_option
def scheduler(
    once: bool, interval: float | None, no_alerts: bool, metrics_port: int | None
) -> None:
    """Launch pipelines when their schedules, new data or alerts fire.

    Worker: its own process on the configured stores (no server needed); replicas are
    safe. Every firing and its decision is in the audit log.
    """
    with context.local_services() as services:
        every = interval or services.settings.scheduler_interval_seconds
        if not once and every <= 0:
            raise click.ClickException("--interval must be above 0 (or use --once)")
        runner = pipeline_scheduler(services)
        runner.interval = every
        try:
            if once:
                _print_pass(runner.run_once())
                return
            listener = None if no_alerts else alert_listener(services, runner).start()
            ready = database_ready(services)
            try:
                with role_listener((), metrics_port, services.settings.host, ready):
                    started = f"checking triggers every {every:g} s (Ctrl-C stops)"
                    _run_until_signalled(runner, started)
            finally:
                if listener is not None:
                    listener.stop()
        finally:
            runner.lease.close()


def _run_until_signalled(runner: Scheduler, started: str) -> None:
    """Passes until SIGTERM or Ctrl-C; ``started`` is printed once SIGTERM is handled, so
    a signal sent on reading it stops the loop, not the process."""
    stop = threading.Event()
    try:
        with stop_on_sigterm(stop):
            click.echo(started)
            runner.run(stop, _print_decisions)
    except KeyboardInterrupt:
        stop.set()


def _print_decisions(decisions: list[Decision]) -> None:
    for decision in decisions:
        click.echo(_line(decision), err=decision.outcome == FAILED)


def _print_pass(decisions: list[Decision]) -> None:
    _print_decisions(decisions)
    counts = {o: sum(d.outcome == o for d in decisions) for o in ("launched", "skipped", "failed")}
    click.echo(
        f"{len(decisions)} firing(s): {counts['launched']} launched, {counts['skipped']} "
        f"skipped, {counts['failed']} failed"
    )


def _line(decision: Decision) -> str:
    where = f"{decision.tenant_id}/{decision.pipeline}"
    run = f" → {decision.run_id}" if decision.run_id else ""
    return f"{decision.outcome:<8} {where} {decision.trigger['key']}{run}: {decision.reason}"
