"""Files the server keeps are private to its user: directories 0700, files 0600.

Databases, stores, logs and keys under the home hold tenant data, so they are created
like the credentials file, whatever the umask lets through. Only what is created here is
set: an existing directory (a user's working directory, a home made by an older version)
keeps its mode.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import BinaryIO

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600


def private_dir(path: Path) -> Path:
    """``path`` as a directory, creating it and any missing parents with mode 0700."""
    missing = []
    current = path
    while not current.exists():
        missing.append(current)
        current = current.parent
    for directory in reversed(missing):
        with contextlib.suppress(FileExistsError):  # made meanwhile by another process
            os.mkdir(directory, PRIVATE_DIR)
    return path


def private_file(path: Path) -> Path:
    """``path``, created empty with mode 0600 if missing (its directory as ``private_dir``).

    Called before SQLite opens a database: SQLite gives the ``-wal``, ``-shm`` and
    journal files it makes beside it the database file's mode.
    """
    private_dir(path.parent)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE))
    return path


def open_private(path: Path) -> BinaryIO:
    """``path`` opened for writing bytes (truncated), created with mode 0600."""
    private_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE)
    return os.fdopen(fd, "wb")


def write_private(path: Path, text: str) -> None:
    """Write ``text`` readable by its owner only (0600), never world-readable for a moment."""
    with open_private(path) as handle:
        handle.write(text.encode())
    os.chmod(path, PRIVATE_FILE)
