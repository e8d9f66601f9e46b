"""``ailayer keys``: create, list, rotate, expire and revoke API keys.

Every action goes through the server with an admin key, for the key's tenant, like every
other tenant-scoped action, except set-up: ``keys create --tenant NAME`` writes to the
metadata database directly, which is how an operator on the machine makes a tenant and
its first key before any key exists.
"""

from __future__ import annotations

import re
from dataclasses import asdict
from datetime import datetime, timedelta

import click

from ailayer.cli import context
from ailayer.cli.output import print_json, print_table, wide_option
from ailayer.core.clock import utcnow
from ailayer.db.engine import Database
from ailayer.db.migrate import upgrade
from ailayer.governance.keys import KeyService
from ailayer.governance.roles import Role
from ailayer.governance.teams import TeamService


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
@click.option(
    "--expires-in",
    default=None,
    metavar="DURATION",
    help="The key stops working after this long: 90s, 30m, 12h, 30d.",
)
@click.option(
    "--endpoints",
    default=None,
    metavar="NAMES",
    help="Narrow the key to these endpoints (comma-separated); others answer 403.",
)
@click.option(
    "--team",
    default=None,
    help="The key's team: it may change only what this team owns (and unowned objects).",
)
@context.url_option
@context.key_option
@context.json_option
def keys_create(
    name: str,
    role: str,
    tenant: str | None,
    expires_in: str | None,
    endpoints: str | None,
    team: str | None,
    url: str | None,
    api_key: str | None,
    as_json: bool,
) -> None:
    """Create a key called NAME and print it once.

    Uses the API at --url with --api-key. That key must be an admin's; the new key is for
    its tenant. With --tenant: Set-up: writes to the metadata database directly (and
    makes the --team if new).
    """
    expires_at = _after(expires_in, "--expires-in")
    scope = [part.strip() for part in endpoints.split(",")] if endpoints is not None else None
    if tenant is None:
        with context.client(url, api_key) as client:
            created = client.create_key(
                name, role, expires_at=expires_at, endpoints=scope, team=team
            )
    else:
        created = _create_on_database(name, role, tenant, expires_at, scope, team)
    _print_created(created, as_json, f"created {role} key {name!r}")


def _print_created(created: dict, as_json: bool, what: str) -> None:
    if as_json:
        shown = ("key", "name", "role", "tenant", "prefix", "expires_at", "endpoints", "team")
        print_json({k: created.get(k) for k in shown})
        return
    click.echo(f"{what} for tenant {created['tenant']!r} (prefix {created['prefix']})")
    click.echo("store it now, it is not shown again:")
    click.echo(created["key"])


def _create_on_database(
    name: str,
    role: str,
    tenant: str,
    expires_at: datetime | None,
    endpoints: list[str] | None,
    team: str | None,
) -> dict:
    database = Database(context.settings().metadata_url)
    try:
        upgrade(database)
        service = KeyService(database)
        tenant_id = service.ensure_tenant(tenant)
        if team is not None:
            TeamService(database).ensure(tenant_id, team, actor="cli")
        created = service.create_key(
            tenant_id,
            name,
            role,
            actor="cli",
            expires_at=expires_at,
            endpoints=endpoints,
            team=team,
        )
    finally:
        database.dispose()
    return {**asdict(created), "role": created.role.value}


DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str, option: str) -> float:
    """``90s``, ``30m``, ``1h``, ``7d`` (or bare seconds) as seconds; a bad one names
    ``option``."""
    matched = DURATION.match(text)
    if matched is None:
        raise click.BadParameter(
            f"expected a duration such as 90s, 30m, 1h or 7d; got {text!r}", param_hint=option
        )
    return float(matched.group(1)) * UNIT_SECONDS[matched.group(2)]


def _after(text: str | None, option: str) -> datetime | None:
    if text is None:
        return None
    return utcnow() + timedelta(seconds=parse_duration(text, option))


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
        columns = ["name", "prefix", "role", "team", "endpoints", "expires_at", "last_used_at"]
        print_table(rows, [*columns, "revoked_at", "replaced_by"], wide=wide)


@keys_group.command("rotate")
@click.argument("name")
@click.option(
    "--overlap",
    default="1h",
    show_default=True,
    metavar="DURATION",
    help="How long the old secret keeps working: 0s, 15m, 1h, 7d (at most 30d).",
)
@context.url_option
@context.key_option
@context.json_option
def keys_rotate(
    name: str, overlap: str, url: str | None, api_key: str | None, as_json: bool
) -> None:
    """Give the key NAME (or with prefix NAME) a new secret and print it once.

    The new key has the old one's role, endpoints and expiry; the old secret keeps working
    until the overlap ends, then is refused.

    Uses the API at --url with --api-key. The key must be an admin's.
    """
    seconds = parse_duration(overlap, "--overlap")
    with context.client(url, api_key) as client:
        rotated = client.rotate_key(name, seconds)
    if as_json:
        print_json(rotated)
        return
    _print_created(rotated, False, f"rotated key {name!r}")
    click.echo(f"the old key ({rotated['old_prefix']}) works until {rotated['old_valid_until']}")


@keys_group.command("expire")
@click.argument("prefix")
@click.option("--in", "after", default=None, metavar="DURATION", help="Expire after: 1h, 7d.")
@click.option("--never", is_flag=True, help="Take the key's expiry away.")
@context.url_option
@context.key_option
def keys_expire(
    prefix: str, after: str | None, never: bool, url: str | None, api_key: str | None
) -> None:
    """Set when the key with PREFIX stops working (admin key needed).

    The tenant's last admin key without an expiry cannot be given one.

    Uses the API at --url with --api-key.
    """
    if never == (after is not None):
        raise click.UsageError("give exactly one of --in DURATION or --never")
    expires_at = None if never else _after(after, "--in")
    with context.client(url, api_key) as client:
        client.set_key_expiry(prefix, expires_at)
    click.echo(f"{prefix} expires {'never' if expires_at is None else expires_at.isoformat()}")


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
