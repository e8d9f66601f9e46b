"""Metadata store: tables, the database handle, and migrations."""

from ailayer.db.engine import Database

__all__ = ["Database"]
