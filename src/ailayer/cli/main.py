"""The ``ailayer`` command group. Commands parse, call a service or the SDK, and print.

Any ailayer error ends the command with one clear line on stderr and exit code 1.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

import click
from pydantic import ValidationError

from ailayer import __version__
from ailayer.core.errors import AilayerError

COMMANDS: dict[str, tuple[str, str, str]] = {
    # name: (module, attribute, one-line help). Modules are imported only when their
    # command runs, so `ailayer --help` and light commands start fast.
    "up": ("ailayer.cli.up", "up", "Set up the embedded demo on first run, then serve."),
    "serve": ("ailayer.cli.up", "serve", "Serve predictions and the API (no demo set-up)."),
    "db": ("ailayer.cli.db", "db_group", "Metadata database maintenance."),
    "keys": ("ailayer.cli.keys", "keys_group", "API keys: shown once, stored as a hash."),
    "audit": ("ailayer.cli.audit", "audit_group", "The audit trail: verify its chain, export it."),
    "privacy": (
        "ailayer.cli.privacy",
        "privacy_group",
        "Data subject requests: export or delete one subject's records.",
    ),
    "models": ("ailayer.cli.models", "models_group", "Registered models and their versions."),
    "alias": ("ailayer.cli.models", "alias_group", "Aliases such as champion and challenger."),
    "predict": ("ailayer.cli.models", "predict", "Predict with an endpoint."),
    "score": (
        "ailayer.cli.score",
        "score",
        "Batch-score a Parquet or CSV file with an endpoint's model.",
    ),
    "deploy": (
        "ailayer.cli.deploy",
        "deploy",
        "Deploy model versions behind an endpoint (single, canary, A/B, shadow).",
    ),
    "rollout": (
        "ailayer.cli.deploy",
        "rollout_group",
        "An endpoint's deployment: status, promote, rollback, history.",
    ),
    "apply": ("ailayer.cli.features", "apply", "Register feature definitions (plan first)."),
    "materialize": (
        "ailayer.cli.features",
        "materialize",
        "Copy the latest feature values offline → online.",
    ),
    "features": ("ailayer.cli.features", "features_group", "Feature definitions."),
    "consume": ("ailayer.cli.events", "consume", "Run a consumer group's handler on a topic."),
    "events": ("ailayer.cli.events", "events_group", "Events: dead letters (list, replay)."),
    "stream": ("ailayer.cli.stream", "stream_group", "Run stream feature views on their topics."),
    "monitor": (
        "ailayer.cli.monitor",
        "monitor_group",
        "Evaluate alert rules on a schedule; declare rules.",
    ),
    "controller": (
        "ailayer.cli.controller",
        "controller",
        "Step, promote or roll back canaries on a schedule.",
    ),
    "scheduler": (
        "ailayer.cli.scheduler",
        "scheduler",
        "Launch pipelines when their schedules, new data or alerts fire.",
    ),
    "infer": (
        "ailayer.cli.stream",
        "infer",
        "Async inference: predict for events, publish results.",
    ),
    "drift": ("ailayer.cli.drift", "drift", "Data and prediction drift of an endpoint."),
    "cost": (
        "ailayer.cli.cost",
        "cost_group",
        "Usage and cost per tenant, endpoint and model; `cost advise` how to run for less.",
    ),
    "fairness": (
        "ailayer.cli.fairness",
        "fairness",
        "Group fairness of an endpoint's logged decisions.",
    ),
    "experiment": (
        "ailayer.cli.experiment",
        "experiment",
        "A/B result of an endpoint's variants, with a verdict.",
    ),
    "ranking": (
        "ailayer.cli.ranking",
        "ranking",
        "Ranking metrics of a recommender endpoint: precision, recall, NDCG@k, coverage.",
    ),
    "train": (
        "ailayer.cli.train",
        "train",
        "Run a declared pipeline; resume or reproduce a run.",
    ),
    "lineage": (
        "ailayer.cli.lineage",
        "lineage",
        "Where a model version came from and where it serves.",
    ),
    "manifests": (
        "ailayer.cli.manifests",
        "manifests_group",
        "Kubernetes manifests of each role, rendered from a values file.",
    ),
    "report": ("ailayer.cli.report", "report", "Write an endpoint's HTML monitoring report."),
    "teams": ("ailayer.cli.teams", "teams_group", "Teams: what keys and SSO users belong to."),
    "owner": (
        "ailayer.cli.teams",
        "owner_group",
        "Which team owns a model, endpoint, feature view or pipeline.",
    ),
    "card": ("ailayer.cli.card", "card", "A model version's card (JSON, text or HTML)."),
    "reference": (
        "ailayer.cli.drift",
        "reference",
        "Store a model version's drift reference (file or log window).",
    ),
}


class AilayerGroup(click.Group):
    """Loads commands lazily and turns ailayer errors into one line and exit code 1."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*COMMANDS, *self.commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        module, attribute, _ = entry
        return getattr(importlib.import_module(module), attribute)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            rows = [
                (
                    name,
                    COMMANDS[name][2]
                    if name in COMMANDS
                    else self.commands[name].get_short_help_str(),
                )
                for name in self.list_commands(ctx)
            ]
            formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except AilayerError as exc:
            raise click.ClickException(exc.message) from None
        except OSError as exc:
            raise click.ClickException(str(exc)) from None
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"])
            raise click.ClickException(f"invalid setting {field}: {first['msg']}") from None


QUIET_LOGGERS = ("alembic",)  # schema migrations run at every start; their INFO is noise


def configure_logging(verbose: bool) -> None:
    """Libraries' INFO lines (e.g. Alembic's on every migration check) only with --verbose."""
    level = logging.NOTSET if verbose else logging.WARNING
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(level)
    if verbose:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")


@click.group(cls=AilayerGroup)
@click.version_option(__version__, prog_name="ailayer")
@click.option("--verbose", is_flag=True, help="Also print libraries' log lines (migrations, ...).")
def cli(verbose: bool) -> None:
    """ailayer: feature store, model registry, predictions and monitoring in one service.

    Commands that act on a running deployment use its HTTP API with a key: --url, else
    AILAYER_URL, else the server `ailayer up` runs from this folder; --api-key, else
    AILAYER_API_KEY, else .ailayer/credentials. Set-up commands (db upgrade, keys create
    --tenant, up) and workers (consume, infer, stream run, monitor, controller,
    scheduler) work on the configured stores directly. Each command's --help says which
    it does.
    """
    configure_logging(verbose)


def main() -> None:
    cli(prog_name="ailayer")
