"""``ailayer controller``: step, promote or roll back every tenant's canaries on a schedule.

A worker process of its own on the configured stores, like ``ailayer monitor`` (``ailayer
up`` runs the same loop in a background thread). Several replicas may run at once: each
move is a compare-and-set on the policy's revision, so one replica makes it and the others
count a conflict.
"""

from __future__ import annotations

import threading

import click

from ailayer.bootstrap import rollout_controller
from ailayer.cli import context
from ailayer.cli.roles import database_ready, role_listener, stop_on_sigterm
from ailayer.rollout.controller import Outcome, RolloutController
from ailayer.rollout.metrics import ControllerCollector


@click.command("controller")
@click.option("--once", is_flag=True, help="Judge every active canary once, print, and exit.")
@click.option(
    "--interval",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Seconds between passes (default: the rollout_interval_seconds setting).",
)
@click.option(
    "--metrics-port",
    type=click.IntRange(1, 65535),
    default=None,
    help="Serve Prometheus metrics (steps, promotions, rollbacks, conflicts), /healthz and "
    "/readyz on this port (host: setting).",
)
def controller(once: bool, interval: float | None, metrics_port: int | None) -> None:
    """Step, promote or roll back every tenant's active canaries on a schedule.

    Worker: its own process on the configured stores (no server needed); replicas are safe.
    """
    with context.local_services() as services:
        every = interval or services.settings.rollout_interval_seconds
        if not once and every <= 0:
            raise click.ClickException("--interval must be above 0 (or use --once)")
        judge = rollout_controller(services)
        judge.interval = every
        collectors = [ControllerCollector(judge.counts)]
        ready = database_ready(services)
        with role_listener(collectors, metrics_port, services.settings.host, ready):
            if once:
                _print_pass(judge.run_once())
            else:
                click.echo(f"judging canaries every {every:g} s (Ctrl-C stops)")
                _run_forever(judge)


def _run_forever(judge: RolloutController) -> None:
    """Passes until SIGTERM (after the pass under way) or Ctrl-C."""
    stop = threading.Event()
    try:
        with stop_on_sigterm(stop):
            judge.run(stop, _print_changes)
    except KeyboardInterrupt:
        stop.set()


def _print_changes(outcomes: list[Outcome]) -> None:
    """Between passes: only what moved, lost or failed (holds repeat every pass)."""
    for outcome in outcomes:
        if outcome.decision is None or outcome.decision.action != "hold":
            click.echo(_line(outcome), err=outcome.decision is None)


def _print_pass(outcomes: list[Outcome]) -> None:
    for outcome in outcomes:
        click.echo(_line(outcome), err=outcome.decision is None)
    moved = sum(1 for o in outcomes if o.stored is not None)
    conflicts = sum(1 for o in outcomes if o.conflict)
    failed = sum(1 for o in outcomes if o.decision is None)
    click.echo(
        f"judged {len(outcomes)} canary(ies): {moved} moved, {conflicts} conflict(s), "
        f"{failed} error(s)"
    )


def _line(outcome: Outcome) -> str:
    where = f"{outcome.tenant_id}/{outcome.endpoint}"
    if outcome.decision is None:
        return f"error    {where}: {outcome.error}"
    if outcome.conflict:
        return f"conflict {where}: moved by another writer; {outcome.decision.action} skipped"
    revision = f" (revision {outcome.stored.revision})" if outcome.stored is not None else ""
    return f"{outcome.decision.action:<8} {where}{revision}: {outcome.decision.reason}"
