"""``ailayer fairness``: group fairness of an endpoint's logged decisions, through the API
with the key (the tenant is the key's)."""

from __future__ import annotations

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from ailayer.cli import context
from ailayer.cli.output import make_console, number, print_json, wide_option
from ailayer.cli.window import end_option, parse_time


@click.command("fairness")
@click.argument("endpoint")
@click.option("--attribute", required=True, help="The logged input to group by, e.g. country.")
@click.option("--start", default=None, help="Window start, ISO 8601 (default: 7 days before end).")
@end_option
@context.url_option
@context.key_option
@context.json_option
@wide_option
def fairness(
    endpoint: str,
    attribute: str,
    start: str | None,
    end: str | None,
    url: str | None,
    api_key: str | None,
    as_json: bool,
    wide: bool,
) -> None:
    """Group fairness of ENDPOINT's logged decisions by a logged input, per model version:
    selection rate, TPR, FPR, precision per group, and the four-fifths rule.

    Exits 0 whether or not the rule passes (use --json for scripts); 1 for an attribute
    that no version in the window logs, or a bad option.

    Uses the API at --url with --api-key.
    """
    window = parse_time(start, "--start"), parse_time(end, "--end")
    with context.client(url, api_key) as client:
        result = client.fairness(endpoint, attribute, *window)
    if as_json:
        print_json(result)
        return
    if not result["versions"]:
        click.echo(result["reason"])
    console = make_console(wide)
    for item in result["versions"]:
        _print_fairness(console, item, attribute)


def _print_fairness(console: Console, item: dict, attribute: str) -> None:
    hashed = " (PII: groups are hashes)" if item["hashed"] else ""
    title = (
        f"{item['model']} v{item['version']}: {item['rows']:,} predictions, "
        f"{item['labelled']:,} labelled, by {attribute}{hashed}"
    )
    if item["groups"] is None:
        console.print(Text(title, style="bold"), Text(f"  {item['reason']}"))
        return
    table = Table(title=Text(title))
    columns = ("group", "count", "selected", "selection rate", "labelled", "TPR", "FPR")
    for column in (*columns, "precision"):
        table.add_column(column)
    for name, group in item["groups"].items():
        rates = (group[k] for k in ("true_positive_rate", "false_positive_rate", "precision"))
        shown = f"{name[:19]}…" if item["hashed"] else name  # sha256: + 12 hex digits
        cells = [shown, f"{group['count']:,}", f"{group['selected']:,}"]
        cells += [number(group["selection_rate"]), f"{group['labelled']:,}"]
        table.add_row(*(Text(c) for c in [*cells, *(number(r) for r in rates)]))
    console.print(table)
    passed = item["four_fifths_rule"]
    verdict = Text("pass" if passed else "FAIL", style=None if passed else "bold red")
    odds = item["equalized_odds_difference"]
    console.print(
        Text(
            f"demographic parity difference {number(item['demographic_parity_difference'])}, "
            f"ratio {number(item['demographic_parity_ratio'])} → four-fifths rule: "
        ),
        verdict,
        Text(f"; equalized odds difference {'n/a' if odds is None else number(odds)}"),
        sep="",
        highlight=False,
    )
    if item["missing"]:
        console.print(Text(f"{item['missing']:,} predictions without {attribute}", style="dim"))
