"""``ailayer privacy``: data subject requests (GDPR / CCPA) through the server, admin key.

``export`` prints every record ailayer holds about a subject as JSON; ``delete`` erases it
from every store ailayer writes, tombstones it so it does not come back, and prints the
receipt that the audit trail also keeps. Sources the customer owns are named, not changed.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
import orjson

from ailayer.cli import context
from ailayer.cli.output import print_json


@click.group("privacy")
def privacy_group() -> None:
    """Data subject requests: export or delete what ailayer holds about one subject."""


subject_option = click.option(
    "--subject", required=True, help="The subject's join key and value, e.g. customer_id=42."
)


@privacy_group.command("export")
@subject_option
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the JSON here instead of printing it.",
)
@context.url_option
@context.key_option
def export(subject: str, output: Path | None, url: str | None, api_key: str | None) -> None:
    """Every record of a subject, per store, as JSON (audited).

    Uses the API at --url with --api-key. The key must be an admin's.
    """
    with context.client(url, api_key) as client:
        found = client.export_subject(subject)
    if output is None:
        print_json(found)
        return
    output.write_bytes(orjson.dumps(found, option=orjson.OPT_INDENT_2))
    click.echo(f"{found['records']} records of {subject} written to {output}")


@privacy_group.command("delete")
@subject_option
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@context.url_option
@context.key_option
@context.json_option
def delete(subject: str, yes: bool, url: str | None, api_key: str | None, as_json: bool) -> None:
    """Erase a subject everywhere ailayer keeps it; print the deletion receipt.

    Uses the API at --url with --api-key. The key must be an admin's. Exits 1 when a
    store failed (the receipt names it): run the command again to complete the delete.
    """
    if not yes:
        click.confirm(f"erase every record of {subject}? This cannot be undone", abort=True)
    with context.client(url, api_key) as client:
        receipt = client.delete_subject(subject)
    if as_json:
        print_json(receipt)
    else:
        click.echo(describe(receipt))
    if not receipt["complete"]:
        sys.exit(1)


def describe(receipt: dict[str, Any]) -> str:
    """The receipt as lines: the total, then each store's count and places."""
    state = "complete" if receipt["complete"] else "INCOMPLETE (run it again)"
    lines = [f"deleted {receipt['removed']} records ({state}); subject {receipt['subject_hash']}"]
    for store in receipt["stores"]:
        if store["customer_owned"]:
            lines.append(f"  {store['store']}: not touched; {store['note']}")
            lines += [f"    {where}" for where in store["where"]]
            continue
        lines.append(f"  {store['store']}: {store['removed']} removed")
        lines += [f"    {where}: {count}" for where, count in store["where"].items()]
        if store["note"]:
            lines.append(f"    note: {store['note']}")
    lines += [f"  {name}: FAILED: {why}" for name, why in receipt["failed"].items()]
    return "\n".join(lines)
