"""``ailayer report``: an endpoint's self-contained HTML monitoring report, through the
API with the key (the tenant is the key's)."""

from __future__ import annotations

from pathlib import Path

import click

from ailayer.cli import context
from ailayer.cli.window import end_option, parse_time, start_option


@click.command("report")
@click.argument("endpoint")
@start_option
@end_option
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("report.html"),
    show_default=True,
    help="Where to write the HTML file.",
)
@context.url_option
@context.key_option
def report(
    endpoint: str,
    start: str | None,
    end: str | None,
    output: Path,
    url: str | None,
    api_key: str | None,
) -> None:
    """Write a self-contained HTML report of ENDPOINT: distributions reference vs current,
    drift decisions, prediction drift and metrics over time; for a recommender, its
    NDCG@10, precision@10, recall@10 and coverage@10 per version, and NDCG@10 over time.

    Uses the API at --url with --api-key.
    """
    window = parse_time(start, "--start"), parse_time(end, "--end")
    with context.client(url, api_key) as client:
        page = client.report(endpoint, *window)
    output.write_text(page, encoding="utf-8")
    click.echo(f"wrote {output} ({len(page.encode()):,} bytes)")
