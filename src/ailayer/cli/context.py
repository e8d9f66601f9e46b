"""Where a command finds its settings, server URL and API key.

The key comes from ``--api-key``, else ``AILAYER_API_KEY``, else the ``credentials`` file
that ``ailayer up`` wrote under the home directory.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import click

from ailayer.core.files import private_dir
from ailayer.core.settings import Settings, load_settings

__all__ = ["load_settings"]
from ailayer.sdk import Client


def settings() -> Settings:
    return load_settings()


def default_url(config: Settings) -> str:
    return os.environ.get("AILAYER_URL", f"http://{config.host}:{config.port}")


def read_credentials(path: Path) -> str | None:
    try:
        return path.read_text().strip() or None
    except FileNotFoundError:
        return None


def write_credentials(path: Path, key: str) -> None:
    """Write the key readable by its owner only (0600), never world-readable for a moment."""
    private_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, stat.S_IRUSR | stat.S_IWUSR)
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)


def api_key(option: str | None, config: Settings) -> str:
    """The key from ``--api-key``, ``AILAYER_API_KEY`` or the credentials file, in that order."""
    key = option or os.environ.get("AILAYER_API_KEY") or read_credentials(config.credentials_path)
    if not key:
        raise click.ClickException(
            "no API key: pass --api-key, set AILAYER_API_KEY, or run `ailayer up` first"
        )
    return key


def client(url: str | None, api_key_option: str | None) -> Client:
    config = settings()
    return Client(url or default_url(config), api_key(api_key_option, config))


url_option = click.option(
    "--url", default=None, help="Server URL (default: AILAYER_URL or the configured host:port)."
)
key_option = click.option(
    "--api-key", default=None, help="API key (default: AILAYER_API_KEY or .ailayer/credentials)."
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")


metrics_port_option = click.option(
    "--metrics-port",
    type=click.IntRange(1, 65535),
    default=None,
    help="Serve Prometheus metrics (consumer lag, event counts) on this port (host: setting).",
)


@contextlib.contextmanager
def runner_metrics(runners: list, port: int | None) -> Iterator[None]:
    """While the block runs, the runners' metrics on ``port`` (nothing when None)."""
    if port is None:
        yield
        return
    from ailayer.events.metrics import serve_runner_metrics

    server = serve_runner_metrics(runners, port, settings().host)
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
