"""``ailayer keys``: create, list and revoke API keys.

``keys create`` works on the metadata database directly: it is how an operator on the
machine bootstraps tenants and their first keys. Listing and revoking go through the
server with an admin key, like every other tenant-scoped action.
"""

from __future__ import annotations

import click

from ailayer.cli import context
from ailayer.cli.output import print_json, print_table
from ailayer.db.engine import Database
from ailayer.db.migrate import upgrade
from ailayer.governance.keys import KeyService
from ailayer.governance.roles import Role

DEFAULT_TENANT = "default"


@click.group("keys")
def keys_group() -> None:
    """API keys: shown once at creation, stored only as a hash."""


@keys_group.command("create")
@click.argument("name")
@click.option(
    "--role", type=click.Choice([r.value for r in Role]), default="developer", show_default=True
)
@click.option("--tenant", default=DEFAULT_TENANT, show_default=True, help="Created if new.")
@context.json_option
def keys_create(name: str, role: str, tenant: str, as_json: bool) -> None:
    """Create a key for TENANT (directly on the metadata database)."""
    database = Database(context.settings().metadata_url)
    try:
        upgrade(database)
        service = KeyService(database)
        created = service.create_key(service.ensure_tenant(tenant), name, role, actor="cli")
    finally:
        database.dispose()
    if as_json:
        print_json(
            {
                "key": created.key,
                "name": created.name,
                "role": created.role.value,
                "tenant": created.tenant,
                "prefix": created.prefix,
            }
        )
        return
    click.echo(f"created {role} key {name!r} for tenant {tenant!r} (prefix {created.prefix})")
    click.echo("store it now, it is not shown again:")
    click.echo(created.key)


@keys_group.command("list")
@context.url_option
@context.key_option
@context.json_option
def keys_list(url: str | None, api_key: str | None, as_json: bool) -> None:
    """List this tenant's keys (admin key needed)."""
    with context.client(url, api_key) as client:
        rows = client.list_keys()
    if as_json:
        print_json(rows)
    else:
        print_table(rows, ["name", "prefix", "role", "created_at", "revoked_at"])


@keys_group.command("revoke")
@click.argument("prefix")
@context.url_option
@context.key_option
def keys_revoke(prefix: str, url: str | None, api_key: str | None) -> None:
    """Revoke the key with PREFIX."""
    with context.client(url, api_key) as client:
        client.revoke_key(prefix)
    click.echo(f"revoked {prefix}")
