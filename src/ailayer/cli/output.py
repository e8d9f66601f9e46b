"""How commands print: a table or text for people, ``--json`` for scripts."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import click
from rich.console import Console
from rich.table import Table

console = Console()
WIDE = 10_000  # characters: in effect no limit, so a table takes its natural width

wide_option = click.option(
    "--wide",
    is_flag=True,
    help="Never cut or wrap table columns (default: fit the terminal; unlimited when piped).",
)


def make_console(wide: bool = False) -> Console:
    """A console as wide as the terminal; unlimited with ``--wide`` or when the output is
    not a terminal (a file or a pipe has no width to fit, so nothing is cut)."""
    if wide or not sys.stdout.isatty():
        return Console(width=WIDE)
    return Console()


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot serialise {type(value).__name__}")


def print_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, default=_default))


def number(value: float | None) -> str:
    """A number for a table cell: four significant digits, empty when there is none."""
    return "" if value is None else f"{value:.4g}"


def print_table(
    rows: Sequence[dict], columns: Sequence[str], title: str | None = None, wide: bool = False
) -> None:
    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(_cell(row.get(c)) for c in columns))
    make_console(wide).print(table)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict):
        return ", ".join(f"{k}={_cell(v)}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(_cell(v) for v in value)
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
