"""``ailayer experiment``: an endpoint's A/B result, through the API with the key (the
tenant is the key's)."""

from __future__ import annotations

import re

import click
from rich.table import Table
from rich.text import Text

from ailayer.cli import context
from ailayer.cli.output import make_console, number, print_json, wide_option
from ailayer.cli.window import end_option, parse_time

METRICS = ("conversion", "accuracy", "mean")
RANKING = re.compile(r"(ndcg|precision|recall)@([1-9][0-9]{0,2}|1000)")


@click.command("experiment")
@click.argument("endpoint")
@click.option(
    "--metric",
    required=True,
    callback=lambda _ctx, _param, value: _metric(value),
    help=f"The outcome compared: {', '.join(METRICS)}, or ndcg@K, precision@K, recall@K.",
)
@click.option(
    "--effect",
    required=True,
    type=float,
    help="Minimum detectable difference of means (of rates for conversion and accuracy).",
)
@click.option("--alpha", default=0.05, show_default=True, help="Family-wise error rate.")
@click.option("--power", default=0.8, show_default=True, help="Power at the effect.")
@click.option("--control", default=None, help="The control variant (default: control, stable).")
@click.option("--start", default=None, help="Window start, ISO 8601 (default: 30 days before end).")
@end_option
@context.url_option
@context.key_option
@context.json_option
@wide_option
def experiment(
    endpoint: str,
    metric: str,
    effect: float,
    alpha: float,
    power: float,
    control: str | None,
    start: str | None,
    end: str | None,
    url: str | None,
    api_key: str | None,
    as_json: bool,
    wide: bool,
) -> None:
    """ENDPOINT's A/B result: a row per variant (predictions, outcomes, mean) and a
    verdict per variant against the control, given only once the sample for --effect is
    in. The p-values stay valid however often this is run.

    Exits 0 whatever the verdict (use --json for scripts); 1 for a bad option or an
    unknown control. Uses the API at --url with --api-key.
    """
    window = parse_time(start, "--start"), parse_time(end, "--end")
    with context.client(url, api_key) as client:
        result = client.experiment(
            endpoint,
            metric,
            effect,
            alpha=alpha,
            power=power,
            control=control,
            start=window[0],
            end=window[1],
        )
    if as_json:
        print_json(result)
        return
    if not result["variants"]:
        click.echo(result["reason"])
        return
    _print(result, wide)


def _metric(value: str) -> str:
    """The metric named right, or a usage error (exit 2) naming what was given."""
    if value in METRICS or RANKING.fullmatch(value):
        return value
    raise click.BadParameter(
        f"{value!r} is not one of {', '.join(METRICS)}, ndcg@K, precision@K, recall@K "
        "(K from 1 to 1000)"
    )


def _print(result: dict, wide: bool) -> None:
    console = make_console(wide)
    title = (
        f"{result['endpoint']}: {result['metric']}, control {result['control']}, "
        f"effect {number(result['effect'])}, alpha {number(result['alpha'])}, "
        f"power {number(result['power'])}"
    )
    table = Table(title=Text(title))
    for column in ("variant", "versions", "predictions", "outcomes", "mean", "difference"):
        table.add_column(column)
    for column in ("interval", "p-value", "sample of needed"):
        table.add_column(column)
    compared = {c["variant"]: c for c in result["comparisons"]}
    for variant in result["variants"]:
        versions = ", ".join(f"v{v['version']}" for v in variant["versions"])
        cells = [variant["name"], versions, f"{variant['predictions']:,}"]
        cells += [f"{variant['outcomes']:,}", number(variant.get("mean"))]
        cells += _comparison_cells(compared.get(variant["name"]))
        table.add_row(*(Text(c) for c in cells))
    console.print(table)
    for comparison in result["comparisons"]:
        style = "bold" if comparison["verdict"] in ("better", "worse") else None
        console.print(Text(comparison["message"], style=style), highlight=False)
    if result["reason"]:
        console.print(Text(result["reason"]), highlight=False)
    if len(result["comparisons"]) > 1:
        note = f"{len(result['comparisons'])} comparisons, Bonferroni-corrected"
        console.print(Text(note, style="dim"), highlight=False)


def _comparison_cells(comparison: dict | None) -> list[str]:
    if comparison is None:
        return ["control", "", "", ""]
    interval = comparison["interval"]
    shown = "" if interval is None else f"[{number(interval[0])}, {number(interval[1])}]"
    needed = comparison["needed"]
    sample = f"{comparison['pairs']:,} of {needed:,}" if needed is not None else ""
    return [number(comparison["difference"]), shown, number(comparison["p_value"]), sample]
