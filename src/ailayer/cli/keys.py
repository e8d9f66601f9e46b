"""``ailayer keys``: create, list and revoke API keys.

Every action goes through the server with an admin key, for the key's tenant, like every
other tenant-scoped action, except set-up: ``keys create --tenant NAME`` writes to the
metadata database directly, which is how an operator on the machine makes a tenant and
its first key before any key exists.
"""

from __future__ import annotations

from dataclasses import asdict

import click

from ailayer.cli import context
from ailayer.cli.output import print_json, print_table, wide_option
from ailayer.db.engine import Database
from ailayer.db.migrate import upgrade
from ailayer.governance.keys import KeyService
from ailayer.governance.roles import Role


@click.group("keys")
def keys_group() -> None:
    """API keys: shown once at creation, stored only as a hash."""


@keys_group.command("create")
@click.argument("name")
@click.option(
    "--role", type=click.Choice([r.value for r in Role]), default="developer", show_default=True
)
@click.option(
    "--tenant",
    default=None,
    help="Set-up: create the key for this tenant (made if new) directly on the metadata "
    "database, with no server or key needed.",
)
@context.url_option
@context.key_option
@context.json_option
def keys_create(
    name: str,
    role: str,
    tenant: str | None,
    url: str | None,
    api_key: str | None,
    as_json: bool,
) -> None:
    """Create a key called NAME and print it once.

    Uses the API at --url with --api-key. That key must be an admin's; the new key is for
    its tenant. With --tenant: Set-up: writes to the metadata database directly.
    """
    if tenant is None:
        with context.client(url, api_key) as client:
            created = client.create_key(name, role)
    else:
        created = _create_on_database(name, role, tenant)
    if as_json:
        print_json({k: created[k] for k in ("key", "name", "role", "tenant", "prefix")})
        return
    click.echo(
        f"created {role} key {name!r} for tenant {created['tenant']!r} (prefix {created['prefix']})"
    )
    click.echo("store it now, it is not shown again:")
    click.echo(created["key"])


def _create_on_database(name: str, role: str, tenant: str) -> dict:
    database = Database(context.settings().metadata_url)
    try:
        upgrade(database)
        service = KeyService(database)
        created = service.create_key(service.ensure_tenant(tenant), name, role, actor="cli")
    finally:
        database.dispose()
    return {**asdict(created), "role": created.role.value}


@keys_group.command("list")
@context.url_option
@context.key_option
@context.json_option
@wide_option
def keys_list(url: str | None, api_key: str | None, as_json: bool, wide: bool) -> None:
    """List the keys of the key's tenant (admin key needed).

    Uses the API at --url with --api-key.
    """
    with context.client(url, api_key) as client:
        rows = client.list_keys()
    if as_json:
        print_json(rows)
    else:
        print_table(rows, ["name", "prefix", "role", "created_at", "revoked_at"], wide=wide)


@keys_group.command("revoke")
@click.argument("prefix")
@context.url_option
@context.key_option
def keys_revoke(prefix: str, url: str | None, api_key: str | None) -> None:
    """Revoke the key with PREFIX (admin key needed).

    Uses the API at --url with --api-key.
    """
    with context.client(url, api_key) as client:
        client.revoke_key(prefix)
    click.echo(f"revoked {prefix}")
