"""``ailayer db upgrade``: bring the metadata database to the newest schema."""

from __future__ import annotations

import click

from ailayer.cli import context
from ailayer.db.engine import Database
from ailayer.db.migrate import current_revision, upgrade


@click.group("db")
def db_group() -> None:
    """Metadata database maintenance."""


@db_group.command("upgrade")
def db_upgrade() -> None:
    """Run pending migrations (also done at every start-up).

    Set-up: writes to the metadata database directly.
    """
    database = Database(context.settings().metadata_url)
    try:
        upgrade(database)
        click.echo(f"metadata database at revision {current_revision(database)}")
    finally:
        database.dispose()
