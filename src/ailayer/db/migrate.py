"""Bring a metadata database to the newest schema, safely from several processes at once.

PostgreSQL serialises concurrent upgrades with an advisory lock; SQLite with a lock file
beside the database. Alembic then finds the schema current and does nothing.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, text

from ailayer.core.files import open_private
from ailayer.db.engine import Database, _translate_outages

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
PG_MIGRATION_LOCK = 7_424_911


def alembic_config(conn: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = conn
    return config


@contextmanager
def _sqlite_file_lock(db: Database) -> Iterator[None]:
    path = db.engine.url.database
    if not path or path == ":memory:":
        yield
        return
    with open_private(Path(path).with_suffix(".migrate.lock")) as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def upgrade(db: Database, revision: str = "head") -> None:
    """Run every pending migration up to ``revision``."""
    with _translate_outages():
        if db.dialect == "postgresql":
            with db.engine.connect() as conn:
                conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": PG_MIGRATION_LOCK})
                try:
                    command.upgrade(alembic_config(conn), revision)
                    conn.commit()
                finally:
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": PG_MIGRATION_LOCK})
                    conn.commit()
            return
        with _sqlite_file_lock(db), db.engine.connect() as conn:
            command.upgrade(alembic_config(conn), revision)
            conn.commit()


def head_revision() -> str:
    """The newest migration this code knows."""
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return ScriptDirectory.from_config(config).get_current_head()


def current_revision(db: Database) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with db.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()
