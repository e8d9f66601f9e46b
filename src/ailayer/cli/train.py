"""``ailayer train``: run a declared pipeline here, resume a stopped run, or reproduce one.

Training is batch work, like ``materialize``: it runs in this process on the configured
stores, for the tenant of the API key, with the pipelines declared in the ``feature_repo``
file. A line per step says where it stands; a failed run ends with its error and how to
resume it.
"""

from __future__ import annotations

import click

from ailayer.cli import context
from ailayer.cli.output import print_json
from ailayer.governance.roles import Permission
from ailayer.pipelines.runner import StepEvent
from ailayer.pipelines.runs import Run

MARKS = {"completed": "done", "reused": "done earlier", "failed": "FAILED", "rejected": "REJECTED"}


@click.command("train")
@click.argument("pipeline", required=False)
@click.option(
    "--resume", "resume_id", default=None, help="Carry RUN_ID on from its last completed step."
)
@click.option(
    "--reproduce",
    "reproduce_id",
    default=None,
    help="Rebuild RUN_ID's training set and retrain it the same way (registers nothing).",
)
@context.key_option
@context.json_option
def train(
    pipeline: str | None,
    resume_id: str | None,
    reproduce_id: str | None,
    api_key: str | None,
    as_json: bool,
) -> None:
    """Run PIPELINE (declared in the feature_repo file): build the training set, train,
    evaluate, check gates, register the model as challenger, deploy.

    Runs here on the configured stores, for the API key's tenant.
    """
    chosen = [x for x in (pipeline, resume_id, reproduce_id) if x]
    if len(chosen) != 1:
        raise click.UsageError("give exactly one of PIPELINE, --resume RUN_ID, --reproduce RUN_ID")
    printer = _Progress(quiet=as_json)
    with context.local_services() as services:
        principal = services.keys.authenticate(context.api_key(api_key, services.settings))
        principal.require(Permission.MODELS_WRITE)
        tenant, actor, runs = principal.tenant_id, principal.actor, services.pipelines
        if resume_id:
            run = runs.resume(tenant, resume_id, actor=actor, listener=printer)
        elif reproduce_id:
            run = runs.reproduce(tenant, reproduce_id, actor=actor, listener=printer)
        else:
            run = runs.run(
                tenant, pipeline or "", actor=actor, trigger={"kind": "cli"}, listener=printer
            )
        original = runs.runs.get(tenant, reproduce_id) if reproduce_id else None
    if as_json:
        print_json(run.to_dict())
    else:
        click.echo(_ending(run, original))
    if run.status != "succeeded":
        raise click.ClickException(_failure(run))


class _Progress:
    """One line per step: ``[2/6] train  done  4.1s  model sha256 …``."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.announced = False

    def __call__(self, event: StepEvent) -> None:
        if self.quiet:
            return
        if not self.announced:
            click.echo(f"run {event.run_id}", nl=True)
            self.announced = True
        where = f"[{event.position}/{event.total}] {event.step:<9}"
        if event.status == "started":
            click.echo(f"{where} running …")
            return
        took = f" {event.seconds:5.1f}s" if event.status != "reused" else ""
        click.echo(
            f"{where} {MARKS.get(event.status, event.status)}{took}  {event.detail}".rstrip()
        )


def _ending(run: Run, original: Run | None) -> str:
    if run.status != "succeeded":
        return f"run {run.id}: {run.status}"
    if original is not None:
        return (
            f"run {run.id} reproduced run {original.id}: same training set "
            f"(sha256 {run.dataset_sha256})"
        )
    said = f"run {run.id} succeeded"
    if run.model_version is not None:
        said += f": {run.model} v{run.model_version} registered as challenger"
    return said


def _failure(run: Run) -> str:
    if run.status == "rejected":
        return f"run {run.id} stopped at the gates: {run.error}"
    return (
        f"run {run.id} {run.status} at step {run.current_step}: {run.error}; "
        f"fix it and resume with `ailayer train --resume {run.id}`"
    )
