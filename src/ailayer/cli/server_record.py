"""Where ``ailayer up`` (or ``serve``) listens, kept in the home so other commands find it.

The server writes ``<home>/server.json`` (``{"url", "pid"}``, mode 0600) before it serves
and removes it on a clean exit. A file left behind by a process that is gone is ignored,
so a crash leaves nothing that misleads the next command.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

from ailayer.core.files import write_private
from ailayer.core.settings import Settings

SERVER_FILE = "server.json"


def server_path(config: Settings) -> Path:
    return config.home / SERVER_FILE


def connect_url(host: str, port: int) -> str:
    """The URL a client on this machine uses for a server bound to ``host``: a wildcard
    bind (0.0.0.0, ::) is reached on loopback; IPv6 literals get brackets."""
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}"


@contextlib.contextmanager
def recorded(config: Settings, host: str, port: int) -> Iterator[str]:
    """Record ``host:port`` as where this process serves, for as long as the block runs."""
    path, url = server_path(config), connect_url(host, port)
    write_private(path, json.dumps({"url": url, "pid": os.getpid()}) + "\n")
    try:
        yield url
    finally:
        if _read(path).get("pid") == os.getpid():  # not one a later server wrote
            path.unlink(missing_ok=True)


def recorded_url(config: Settings) -> str | None:
    """The URL a running server recorded in this home, or None (no file, or its process
    is gone)."""
    found = _read(server_path(config))
    url, pid = found.get("url"), found.get("pid")
    if not isinstance(url, str) or not isinstance(pid, int) or pid <= 0 or not _alive(pid):
        return None
    return url


def _read(path: Path) -> dict:
    try:
        found = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: it exists
    except (OSError, OverflowError):
        return False
    return True
