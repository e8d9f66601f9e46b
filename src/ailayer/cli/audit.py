"""``ailayer audit``: verify the tenant's hash-chained audit trail, export it as JSON lines.

Both go through the server with an admin key, for the key's tenant. With ``--tenant NAME``
they read the metadata database directly instead: for the operator on the machine, who
may want to check the trail without trusting (or running) a server.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import click
import orjson
from sqlalchemy import select

from ailayer.cli import context
from ailayer.cli.output import print_json
from ailayer.db.engine import Database
from ailayer.db.migrate import upgrade
from ailayer.db.tables import tenants
from ailayer.governance import audit, audit_chain

T = TypeVar("T")

tenant_option = click.option(
    "--tenant",
    default=None,
    help="Read this tenant's trail on the metadata database directly (no server or key).",
)


@click.group("audit")
def audit_group() -> None:
    """The audit trail: every entry hash-chained per tenant, with its request id and source."""


@audit_group.command("verify")
@tenant_option
@context.url_option
@context.key_option
@context.json_option
def verify(tenant: str | None, url: str | None, api_key: str | None, as_json: bool) -> None:
    """Walk the chain and report the first broken link; exit 1 if there is one.

    Uses the API at --url with --api-key. The key must be an admin's. Operator: with
    --tenant, reads the metadata database directly instead.
    """
    if tenant is None:
        with context.client(url, api_key) as client:
            verdict = client.verify_audit()
    else:
        verdict = _on_database(tenant, _verify)
    if as_json:
        print_json(verdict)
    else:
        click.echo(describe(verdict))
    if not verdict["ok"]:
        sys.exit(1)


def _verify(db: Database, tenant_id: str) -> dict:
    with db.read() as conn:
        return audit_chain.verify(conn, tenant_id).to_dict()


def describe(verdict: dict[str, Any]) -> str:
    """One line for an intact chain; the break's position, field and values otherwise."""
    if verdict["ok"]:
        count = verdict["entries"]
        entries = "1 entry" if count == 1 else f"{count} entries"
        return f"audit trail intact: {entries}, head {verdict['head_hash']}"
    broken = verdict["broken"]
    entry = f" (entry id {broken['entry_id']})" if broken["entry_id"] else ""
    return (
        f"audit trail BROKEN at seq {broken['seq']}{entry}: {broken['reason']}\n"
        f"  {broken['field']} expected: {broken['expected']}\n"
        f"  {broken['field']} found:    {broken['found']}\n"
        f"  {verdict['entries']} entries before it are intact"
    )


@audit_group.command("export")
@click.option("--format", "fmt", type=click.Choice(["jsonl"]), default="jsonl", show_default=True)
@click.option(
    "--since",
    type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S%z"]),
    default=None,
    help="Only entries at or after this time (UTC unless an offset is given).",
)
@tenant_option
@context.url_option
@context.key_option
def export(
    fmt: str, since: datetime | None, tenant: str | None, url: str | None, api_key: str | None
) -> None:
    """Print the entries as JSON lines (one object per entry, with seq and hashes).

    Uses the API at --url with --api-key. The key must be an admin's. Operator: with
    --tenant, reads the metadata database directly instead.
    """
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    if tenant is None:
        with context.client(url, api_key) as client:
            click.echo(client.export_audit(since), nl=False)
        return

    def write(db: Database, tenant_id: str) -> None:
        for row in audit.export(db, tenant_id, since):
            click.echo(orjson.dumps(row).decode())

    _on_database(tenant, write)


def _on_database(tenant: str, work: Callable[[Database, str], T]) -> T:
    database = Database(context.settings().metadata_url)
    try:
        upgrade(database)
        with database.read() as conn:
            found = conn.execute(select(tenants.c.id).where(tenants.c.name == tenant)).scalar()
        if found is None:
            raise click.ClickException(f"--tenant: no tenant named {tenant!r}")
        return work(database, found)
    finally:
        database.dispose()
