"""``ailayer score``: batch scoring of a Parquet or CSV file with an endpoint's model.

Batch work, not a request: it runs in this process on the configured stores, for the API
key's tenant, on the ``batch_engine`` (DuckDB here, or Spark at ``spark_master``), with a
progress bar of rows (DuckDB) or of tasks (Spark).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ailayer.cli import context
from ailayer.cli.output import console, print_json
from ailayer.governance.roles import Permission
from ailayer.serving.batch_score import score_file


@click.command("score")
@click.argument("endpoint")
@click.option("--input", "source", required=True, help="Parquet (.parquet, .pq) or CSV file.")
@click.option(
    "--output",
    "target",
    required=True,
    help="Where to write (.parquet or .csv; must not exist). On Spark: a folder of parts.",
)
@click.option("--version", type=int, default=None, help="Score with this model version.")
@context.key_option
@context.json_option
def score(
    endpoint: str,
    source: str,
    target: str,
    version: int | None,
    api_key: str | None,
    as_json: bool,
) -> None:
    """Score every row of --input with ENDPOINT's model into --output.

    The output is the input plus `prediction` and, for models with scores, `score`.

    Runs here on the configured stores, for the API key's tenant, on the batch_engine.
    """
    with (
        context.tenant_services(api_key, Permission.PREDICT) as (services, tenant_id),
        _bar(enabled=not as_json) as report,
    ):
        result = score_file(
            services.predictor.resolver,
            services.registry,
            services.offline.engine,
            tenant_id,
            endpoint,
            source,
            target,
            version=version,
            progress=report,
        )
    if as_json:
        print_json(asdict(result))
    else:
        click.echo(
            f"Scored {result.rows} rows with {result.model} v{result.version} "
            f"on {result.engine} into {result.output}"
        )


class _Bar:
    """One bar, started at the first report (nothing drawn for a command that fails
    before any work)."""

    def __init__(self) -> None:
        self._progress: Progress | None = None
        self._task = None

    def __call__(self, done: int, total: int | None, unit: str) -> None:
        if self._progress is None:
            columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
            self._progress = Progress(*columns, TimeElapsedColumn(), console=console)
            self._progress.start()
            self._task = self._progress.add_task(f"scoring ({unit})", total=total)
        assert self._task is not None
        self._progress.update(
            self._task, completed=done, total=total, description=f"scoring ({unit})"
        )

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()


@contextmanager
def _bar(enabled: bool) -> Iterator[_Bar | None]:
    if not enabled:
        yield None
        return
    bar = _Bar()
    try:
        yield bar
    finally:
        bar.close()
