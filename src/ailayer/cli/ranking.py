"""``ailayer ranking``: a recommender endpoint's ranking metrics per version and window,
through the API with the key (the tenant is the key's)."""

from __future__ import annotations

import click
from rich.table import Table
from rich.text import Text

from ailayer.cli import context
from ailayer.cli.output import make_console, number, print_json, wide_option
from ailayer.cli.window import end_option, parse_time


@click.command("ranking")
@click.argument("endpoint")
@click.option("-k", "k", default=10, show_default=True, help="The cut-off, 1 to 1000.")
@click.option(
    "--window",
    "unit",
    default="day",
    show_default=True,
    type=click.Choice(("hour", "day")),
    help="Window width.",
)
@click.option("--start", default=None, help="Window start, ISO 8601 (default: 30 days before).")
@end_option
@context.url_option
@context.key_option
@context.json_option
@wide_option
def ranking(
    endpoint: str,
    k: int,
    unit: str,
    start: str | None,
    end: str | None,
    url: str | None,
    api_key: str | None,
    as_json: bool,
    wide: bool,
) -> None:
    """Precision@k, recall@k, NDCG@k and coverage of ENDPOINT's recommendations per
    model version and window, judged by the clicks and purchases posted as feedback.

    Uses the API at --url with --api-key.
    """
    window = parse_time(start, "--start"), parse_time(end, "--end")
    with context.client(url, api_key) as client:
        result = client.ranking(endpoint, k, window=unit, start=window[0], end=window[1])
    if as_json:
        print_json(result)
        return
    if not result["windows"]:
        click.echo(f"no predictions of {endpoint!r} in the window")
        return
    table = Table(title=Text(f"{result['endpoint']}: ranking at k={k}, per {unit}"))
    columns = ("window", "model", "predictions", "labelled")
    metrics = (f"precision@{k}", f"recall@{k}", f"ndcg@{k}", f"coverage@{k}")
    for column in (*columns, *metrics):
        table.add_column(column)
    for item in result["windows"]:
        cells = [item["window_start"][:16], f"{item['model']} v{item['version']}"]
        cells += [f"{item['predictions']:,}", f"{item['labelled']:,}"]
        cells += [number(item.get(name)) for name in metrics]
        table.add_row(*(Text(c) for c in cells))
    make_console(wide).print(table)
