"""``ailayer drift`` and ``ailayer reference``: an endpoint's drift, and the references
it is judged against, from a shell.

They act on a running deployment, so they go through its API with the key (the tenant is
the key's). One exception: ``reference --endpoint`` (a reference from a window of the
log) has no API route yet, so it runs here on the configured stores.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from ailayer.cli import context
from ailayer.cli.output import make_console, number, print_json, wide_option
from ailayer.cli.window import end_option, parse_time, start_option
from ailayer.governance.roles import Permission
from ailayer.monitoring.drift.compare import MIN_COUNT


@click.command("drift")
@click.argument("endpoint")
@start_option
@end_option
@click.option("--reference-start", default=None, help="Judge against this log window instead…")
@click.option("--reference-end", default=None, help="…ending here (ISO 8601).")
@context.url_option
@context.key_option
@context.json_option
@wide_option
def drift(
    endpoint: str,
    start: str | None,
    end: str | None,
    reference_start: str | None,
    reference_end: str | None,
    url: str | None,
    api_key: str | None,
    as_json: bool,
    wide: bool,
) -> None:
    """Data and prediction drift of ENDPOINT's logged traffic, per model version.

    Exits 0 whether or not drift is found (use --json for scripts); 1 for an unknown
    endpoint or when no version has a reference to judge against.

    Uses the API at --url with --api-key.
    """
    window = parse_time(start, "--start"), parse_time(end, "--end")
    references = (
        parse_time(reference_start, "--reference-start"),
        parse_time(reference_end, "--reference-end"),
    )
    with context.client(url, api_key) as client:
        body = client.drift(
            endpoint, *window, reference_start=references[0], reference_end=references[1]
        )
    versions = body["versions"]
    if all(item["reference"] is None for item in versions):
        raise click.ClickException(versions[0]["reason"])
    if as_json:
        print_json(body)
        return
    console = make_console(wide)
    for item in versions:
        _print_version(console, endpoint, item)


def _print_version(console: Console, endpoint: str, item: dict) -> None:
    report = item["report"]
    share = report["drift_share"]
    title = (
        f"{item['model']} v{item['version']}: {item['rows']:,} predictions, "
        f"{_minute(item['start'])} → {_minute(item['end'])} UTC"
    )
    if item["reference"] is None:
        console.print(Text(title, style="bold"), Text(f"  {item['reason']}"))
        return
    features = [*report["features"].values()]
    if report["prediction"]:
        features.append(report["prediction"])
    if not any(feature["drifted"] is not None for feature in features):
        console.print(Text(title, style="bold"))
        console.print(Text(_not_judged(endpoint, item)), highlight=False)
        return
    table = Table(title=Text(title))
    for column in ("feature", "kind", "test", "statistic", "threshold", "drift", "PSI"):
        table.add_column(column)
    for feature in features:
        cells = [Text(cell) for cell in _cells(feature)]
        table.add_row(*cells, style="bold red" if feature["drifted"] else None)
    console.print(table)
    summary = "n/a" if share is None else f"{share:.0%}"
    verdict = {True: "DATASET DRIFT", False: "no dataset drift", None: "not judged"}
    console.print(
        f"drifted features: {summary} → {verdict[report['dataset_drift']]}", highlight=False
    )
    for feature in features:
        if feature["current_out_of_range"] or feature["capped"]:
            console.print(Text(_quality(feature), style="yellow"))
    if item["reason"] or report["reason"]:
        console.print(Text(item["reason"] or report["reason"], style="dim"))


def _quality(feature: dict) -> str:
    """A data-quality finding of one feature, e.g. values beyond ±1e150."""
    found = []
    if feature["current_out_of_range"]:
        found.append(f"{feature['current_out_of_range']:,} values out of range (beyond ±1e150)")
    if feature["capped"]:
        found.append("capped at the float range: " + ", ".join(feature["capped"]))
    return f"{feature['name']}: " + "; ".join(found)


def _cells(feature: dict) -> list[str]:
    drifted = {True: "DRIFT", False: "ok", None: feature["reason"] or "n/a"}[feature["drifted"]]
    return [
        feature["name"],
        feature["kind"],
        feature["method"] or "",
        number(feature["statistic"]),
        number(feature["threshold"]),
        drifted,
        number(feature["statistics"].get("psi")),
    ]


def _not_judged(endpoint: str, item: dict) -> str:
    """One explanation instead of a row per feature that could not be judged."""
    if item["rows"] < MIN_COUNT:
        return (
            f"Not enough traffic yet: drift needs at least {MIN_COUNT} logged predictions "
            f"in the window, and there are {item['rows']:,}. Send some with "
            f"`ailayer predict {endpoint} --json '<a record, or a list of records>'` "
            f"(or POST /v1/predict/{endpoint}), then run `ailayer drift {endpoint}` again."
        )
    return f"No feature could be judged: {item['report']['reason'] or item['reason']}"


def _minute(value: str) -> str:
    """An ISO 8601 time from the API as ``YYYY-MM-DD HH:MM``."""
    return datetime.fromisoformat(value.replace("Z", "+00:00")).strftime("%Y-%m-%d %H:%M")


@click.command("reference")
@click.argument("model")
@click.argument("version", type=int)
@click.argument(
    "file", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option("--format", "fmt", type=click.Choice(["parquet", "csv", "json"]), default=None)
@click.option("--endpoint", default=None, help="With --start/--end: the log to take rows from.")
@start_option
@end_option
@context.url_option
@context.key_option
@context.json_option
def reference(
    model: str,
    version: int,
    file: Path | None,
    fmt: str | None,
    endpoint: str | None,
    start: str | None,
    end: str | None,
    url: str | None,
    api_key: str | None,
    as_json: bool,
) -> None:
    """Store the drift reference of MODEL VERSION: rows from FILE (Parquet, CSV or JSON),
    or a window of an endpoint's log (--endpoint, --start, --end).

    With FILE: Uses the API at --url with --api-key. With --endpoint: Runs here on the
    configured stores (the API has no route for a log-window reference yet).
    """
    if (file is None) == (endpoint is None):
        raise click.ClickException("give FILE, or --endpoint with --start and --end")
    if endpoint is not None and not (start and end):
        raise click.ClickException("--endpoint needs --start and --end (ISO 8601)")
    if file is not None:
        with context.client(url, api_key) as client:
            result = client.upload_reference(model, version, file, format=fmt)
    else:
        window = parse_time(start, "--start"), parse_time(end, "--end")
        with context.tenant_services(api_key, Permission.MODELS_WRITE) as (services, tenant_id):
            stored = services.drift.store_log_reference(
                tenant_id,
                endpoint,
                model,
                version,
                *window,  # type: ignore[arg-type]
            )
        result = stored.to_dict()
    if as_json:
        print_json(result)
        return
    kinds = ", ".join(f"{n} ({k})" for n, k in result["features"].items())
    score = " + score" if result["score"] else ""
    click.echo(
        f"stored the reference of {model} v{version}: {result['rows']:,} rows, {kinds}{score}"
    )
