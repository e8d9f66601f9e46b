"""``ailayer teams`` and ``ailayer owner``: the teams of a tenant, and which team owns a
model, endpoint, feature view or pipeline. Through the server with a key, like every
tenant-scoped action; creating, deleting and giving away need an admin key."""

from __future__ import annotations

import click

from ailayer.cli import context
from ailayer.cli.output import print_json, print_table
from ailayer.governance.ownership import KINDS


@click.group("teams")
def teams_group() -> None:
    """Teams inside the tenant: keys and SSO users belong to one, objects are owned by one."""


@teams_group.command("create")
@click.argument("name")
@context.url_option
@context.key_option
def teams_create(name: str, url: str | None, api_key: str | None) -> None:
    """Create the team NAME in the key's tenant (admin key needed).

    Uses the API at --url with --api-key.
    """
    with context.client(url, api_key) as client:
        client.create_team(name)
    click.echo(f"created team {name!r}")


@teams_group.command("list")
@context.url_option
@context.key_option
@context.json_option
def teams_list(url: str | None, api_key: str | None, as_json: bool) -> None:
    """The tenant's teams, with their active keys and the objects they own.

    Uses the API at --url with --api-key.
    """
    with context.client(url, api_key) as client:
        rows = client.list_teams()
    if as_json:
        print_json(rows)
    else:
        print_table(rows, ["name", "keys", "owns", "created_by", "created_at"])


@teams_group.command("delete")
@click.argument("name")
@context.url_option
@context.key_option
def teams_delete(name: str, url: str | None, api_key: str | None) -> None:
    """Delete the team NAME; refused while active keys name it or it owns objects.

    Uses the API at --url with --api-key. The key must be an admin's.
    """
    with context.client(url, api_key) as client:
        client.delete_team(name)
    click.echo(f"deleted team {name!r}")


@click.group("owner")
def owner_group() -> None:
    """Which team owns a model, endpoint, feature view or pipeline."""


kind_argument = click.argument("kind", type=click.Choice(KINDS))


@owner_group.command("set")
@kind_argument
@click.argument("name")
@click.argument("team", required=False)
@click.option("--none", "no_team", is_flag=True, help="Take the owner away: nobody owns it.")
@context.url_option
@context.key_option
def owner_set(
    kind: str, name: str, team: str | None, no_team: bool, url: str | None, api_key: str | None
) -> None:
    """Give the KIND called NAME to TEAM (or to nobody with --none); audited.

    Only that team's members (and admins) may change it afterwards.

    Uses the API at --url with --api-key. The key must be an admin's.
    """
    if no_team == (team is not None):
        raise click.UsageError("give exactly one of TEAM or --none")
    with context.client(url, api_key) as client:
        client.set_owner(kind, name, team)
    click.echo(f"{kind} {name!r} is owned by {f'team {team!r}' if team else 'no team'}")


@owner_group.command("show")
@kind_argument
@click.argument("name")
@context.url_option
@context.key_option
@context.json_option
def owner_show(kind: str, name: str, url: str | None, api_key: str | None, as_json: bool) -> None:
    """The team that owns the KIND called NAME.

    Uses the API at --url with --api-key.
    """
    with context.client(url, api_key) as client:
        found = client.owner(kind, name)
    if as_json:
        print_json(found)
    else:
        team = found["team"]
        click.echo(f"{kind} {name!r}: {f'team {team!r}' if team else 'no owner'}")


@owner_group.command("list")
@click.option("--kind", type=click.Choice(KINDS), default=None, help="Only objects of this kind.")
@click.option("--team", default=None, help="Only what this team owns.")
@context.url_option
@context.key_option
@context.json_option
def owner_list(
    kind: str | None, team: str | None, url: str | None, api_key: str | None, as_json: bool
) -> None:
    """Owned objects and their teams (objects not listed have no owner).

    Uses the API at --url with --api-key.
    """
    with context.client(url, api_key) as client:
        rows = client.owners(kind, team)
    if as_json:
        print_json(rows)
    else:
        print_table(rows, ["kind", "name", "team", "updated_by", "updated_at"])
