"""``ailayer apply``, ``ailayer materialize`` and ``ailayer features``: the feature store
from a shell.

``apply`` loads the definitions here, asks the server for the plan, prints it and applies
it. ``materialize`` runs in this process on the configured stores (it is batch work, not a
request), for the tenant of the API key.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import datetime
from typing import Any

import click
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from ailayer.bootstrap import Services
from ailayer.cli import context
from ailayer.cli.output import console, print_json, print_table, wide_option
from ailayer.cli.window import parse_time
from ailayer.features import Progress as Step
from ailayer.features import Run, load_definitions
from ailayer.features.definitions import KINDS
from ailayer.governance.roles import Permission

KIND = click.Choice(sorted(KINDS))


# --- apply -----------------------------------------------------------------------------------


@click.command("apply")
@click.argument("path")
@click.option("--dry-run", is_flag=True, help="Show the plan without applying it.")
@context.url_option
@context.key_option
@context.json_option
def apply(path: str, dry_run: bool, url: str | None, api_key: str | None, as_json: bool) -> None:
    """Register the feature definitions in PATH (a file, folder or module) for this tenant.

    PATH holds the tenant's whole feature repo: definitions missing from it are removed
    (their history stays). The plan is printed first; --dry-run stops there.

    Uses the API at --url with --api-key.
    """
    definitions = load_definitions(path)
    if not definitions:
        raise click.ClickException(f"no feature definitions found in {path}")
    with context.client(url, api_key) as client:
        plan = client.plan_features(definitions)
        has_changes = any(plan[k] for k in ("added", "changed", "removed"))
        applied = has_changes and not dry_run
        if applied:
            plan = client.apply_features(definitions)
    if as_json:
        print_json({"applied": applied, **plan})
        return
    click.echo("\n".join(plan_lines(plan)))
    if applied:
        click.echo(f"Applied: {_counts(plan)}.")
    elif has_changes:
        click.echo("Dry run: nothing applied.")


def plan_lines(plan: dict[str, Any]) -> list[str]:
    """A plan for people: one line per object, changed ones with what differs."""
    if not any(plan[k] for k in ("added", "changed", "removed")):
        return [f"No changes: {len(plan['unchanged'])} definition(s) up to date."]
    lines = [f"Plan: {_counts(plan)}, {len(plan['unchanged'])} unchanged."]
    for key, mark in (("added", "+"), ("changed", "~"), ("removed", "-")):
        for change in plan[key]:
            lines.append(f"  {mark} {change['kind']} {change['name']} (v{change['version']})")
            lines.extend(f"      {detail}" for detail in change["details"])
    return lines


def _counts(plan: dict[str, Any]) -> str:
    return ", ".join(f"{len(plan[k])} {k}" for k in ("added", "changed", "removed"))


# --- materialize -----------------------------------------------------------------------------


@click.command("materialize")
@click.argument("views", nargs=-1, metavar="[VIEW]...")
@click.option("--start", default=None, help="Window start, ISO 8601 (naive times are UTC).")
@click.option("--end", default=None, help="Window end, ISO 8601 (naive times are UTC).")
@click.option("--incremental", is_flag=True, help="From each view's watermark up to now.")
@context.key_option
@context.json_option
@wide_option
def materialize(
    views: tuple[str, ...],
    start: str | None,
    end: str | None,
    incremental: bool,
    api_key: str | None,
    as_json: bool,
    wide: bool,
) -> None:
    """Copy the latest feature values from the offline to the online store.

    VIEW... limits it to some feature views (default: all). A stopped run resumes where
    it stopped.

    Runs here on the configured stores, for the API key's tenant: batch work with no API
    route.
    """
    window = _window(start, end, incremental)
    with (
        context.tenant_services(api_key, Permission.FEATURES_WRITE) as (services, tenant_id),
        _progress(enabled=not as_json) as report,
    ):
        runs = _run(services, tenant_id, list(views) or None, window, report)
    _print_runs(runs, as_json, wide)


def _run(
    services: Services,
    tenant_id: str,
    views: list[str] | None,
    window: tuple[datetime, datetime] | None,
    report: _Bars | None,
) -> list[Run]:
    if window is None:
        return services.materializer.incremental(tenant_id, views, progress=report)
    return services.materializer.materialize(tenant_id, views, *window, progress=report)


def _print_runs(runs: list[Run], as_json: bool, wide: bool) -> None:
    rows = [asdict(run) for run in runs]
    if as_json:
        print_json(rows)
    elif rows:
        for row in rows:
            row["start"], row["end"] = _short_time(row["start"]), _short_time(row["end"])
        columns = ["view", "version", "rows", "start", "end", "resumed"]
        print_table(rows, columns, "materialized", wide=wide)
    else:
        click.echo("No feature views to materialize.")


def _window(
    start: str | None, end: str | None, incremental: bool
) -> tuple[datetime, datetime] | None:
    """``(start, end)``, or None for --incremental; exactly one of the two is required."""
    if incremental and (start or end):
        raise click.ClickException("give --start and --end, or --incremental, not both")
    if incremental:
        return None
    if not (start and end):
        raise click.ClickException("give --start and --end (ISO 8601), or --incremental")
    return parse_time(start, "--start"), parse_time(end, "--end")


def _short_time(value: datetime | None) -> str:
    return "beginning" if value is None else value.strftime("%Y-%m-%d %H:%M")


class _Bars:
    """One progress bar per view, drawn from the materializer's reports. Starts at the
    first report, so a command that fails before any work prints nothing to stdout."""

    def __init__(self) -> None:
        self._bars: Progress | None = None
        self._tasks: dict[tuple[str, int], TaskID] = {}

    def __call__(self, step: Step) -> None:
        if self._bars is None:
            columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
            self._bars = Progress(*columns, TimeElapsedColumn(), console=console)
            self._bars.start()
        key = (step.view, step.version)
        if key not in self._tasks:
            self._tasks[key] = self._bars.add_task(f"{step.view} v{step.version}")
        self._bars.update(self._tasks[key], completed=step.rows_done, total=step.rows_total)

    def close(self) -> None:
        if self._bars is not None:
            self._bars.stop()


@contextmanager
def _progress(enabled: bool) -> Iterator[_Bars | None]:
    if not enabled:
        yield None
        return
    bars = _Bars()
    try:
        yield bars
    finally:
        bars.close()


# --- features list | show | versions ---------------------------------------------------------


@click.group("features")
def features_group() -> None:
    """Applied feature definitions: entities, feature views, on-demand views, services."""


@features_group.command("list")
@click.option("--kind", type=KIND, default=None, help="Only definitions of this kind.")
@context.url_option
@context.key_option
@context.json_option
@wide_option
def features_list(
    kind: str | None, url: str | None, api_key: str | None, as_json: bool, wide: bool
) -> None:
    """List the active definitions of the key's tenant.

    Uses the API at --url with --api-key.
    """
    with context.client(url, api_key) as client:
        rows = client.list_features(kind)
    if as_json:
        print_json(rows)
        return
    for row in rows:
        row["features"] = _feature_names(row["spec"])
    columns = ["kind", "name", "version", "features"]
    print_table(rows, columns, title="feature definitions", wide=wide)


@features_group.command("show")
@click.argument("kind", type=KIND, metavar="KIND")
@click.argument("name")
@context.url_option
@context.key_option
@context.json_option
@wide_option
def features_show(
    kind: str, name: str, url: str | None, api_key: str | None, as_json: bool, wide: bool
) -> None:
    """Show one definition: its settings and features. KIND is one of: entity,
    feature_service, feature_view, on_demand_view.

    Uses the API at --url with --api-key.
    """
    with context.client(url, api_key) as client:
        found = client.get_feature(kind, name)
    if as_json:
        print_json(found)
        return
    spec = found["spec"]
    click.echo(
        f"{kind} {name} v{found['version']} (revision {found['revision']}, "
        f"updated {found['updated_at']} by {found['updated_by']})"
    )
    for key, value in spec.items():
        if key not in ("kind", "name", "version", "features", "source_code") and value:
            click.echo(f"  {key}: {_describe(key, value)}")
    features = spec.get("features") or []
    if features and isinstance(features[0], dict):
        columns = ["name", "dtype", "default", "tags", "description"]
        print_table(features, columns, "features", wide=wide)
    elif features:
        click.echo(f"  features: {', '.join(features)}")


@features_group.command("versions")
@click.argument("kind", type=KIND, metavar="KIND")
@click.argument("name")
@context.url_option
@context.key_option
@context.json_option
@wide_option
def features_versions(
    kind: str, name: str, url: str | None, api_key: str | None, as_json: bool, wide: bool
) -> None:
    """Every revision of one definition, oldest first. KIND is one of: entity,
    feature_service, feature_view, on_demand_view.

    Uses the API at --url with --api-key.
    """
    with context.client(url, api_key) as client:
        rows = client.feature_versions(kind, name)
    if as_json:
        print_json(rows)
        return
    for row in rows:
        row["sha256"] = row["spec_sha256"][:12]
    columns = ["revision", "version", "change", "sha256", "created_at", "created_by"]
    print_table(rows, columns, title=f"{kind} {name}", wide=wide)


def _feature_names(spec: dict[str, Any]) -> str:
    features = spec.get("features") or []
    return ", ".join(f["name"] if isinstance(f, dict) else str(f) for f in features)


def _describe(key: str, value: Any) -> str:
    """One spec field in words: entities with their keys, a source by what it reads."""
    if key == "entities":
        return "; ".join(f"{e['name']} ({_pairs(e['join_keys'])})" for e in value)
    if key == "join_keys" or key == "request":
        return _pairs(value)
    if key == "source" and value.get("type") == "parquet":
        return f"parquet {value['path']} (time: {value['timestamp_field']})"
    if key == "source" and value.get("type") == "dvc":
        where = f"{value['path']}@{value['rev']} in {value['repo']}"
        return f"dvc {where} (time: {value['timestamp_field']})"
    if key == "source":
        return f"postgres {value['url']} table {value['table']} (time: {value['timestamp_field']})"
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def _pairs(mapping: dict[str, Any]) -> str:
    return ", ".join(f"{k}: {v}" for k, v in mapping.items())
