"""A time window on the command line: ``--start`` and ``--end`` in ISO 8601 (naive times
are UTC), read the same way by ``drift``, ``report``, ``reference``, ``fairness`` and
``materialize``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import overload

import click

start_option = click.option(
    "--start", default=None, help="Window start, ISO 8601 (default: a day before end)."
)
end_option = click.option("--end", default=None, help="Window end, ISO 8601 (default: now).")


@overload
def parse_time(text: str, option: str) -> datetime: ...
@overload
def parse_time(text: str | None, option: str) -> datetime | None: ...


def parse_time(text: str | None, option: str) -> datetime | None:
    """``text`` as an aware time (UTC when it names no zone); a bad one names ``option``."""
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise click.ClickException(f"{option}: not an ISO 8601 time: {text!r}") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value
