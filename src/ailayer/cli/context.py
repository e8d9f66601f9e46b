"""How a command reaches the system: its settings, the server's URL and the API key, or
the configured stores in this process.

The URL comes from ``--url``, else ``AILAYER_URL``, else the ``server.json`` that a
running ``ailayer up`` keeps in the home, else the settings' host and port. The key comes
from ``--api-key``, else ``AILAYER_API_KEY``, else the ``credentials`` file that
``ailayer up`` wrote under the home directory.

Commands that work on the stores themselves (workers, batch work) open them with
``local_services``, or with ``tenant_services`` when they act for the key's tenant.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import httpx

from ailayer.cli.server_record import connect_url, recorded_url, server_path
from ailayer.core.errors import BackendUnavailable
from ailayer.core.files import write_private
from ailayer.core.settings import Settings, load_settings

__all__ = ["load_settings"]
from ailayer.sdk import Client
from ailayer.sdk.calls import Call

if TYPE_CHECKING:
    from ailayer.bootstrap import Services
    from ailayer.governance.roles import Permission

ELSEWHERE = (
    "start the server with `ailayer up`, or point the CLI at a running one with --url "
    "or AILAYER_URL"
)


def settings() -> Settings:
    return load_settings()


def server_url(option: str | None, config: Settings) -> tuple[str, str]:
    """The server's URL and where it came from, for error messages."""
    if option:
        return option, "--url"
    if os.environ.get("AILAYER_URL"):
        return os.environ["AILAYER_URL"], "AILAYER_URL"
    recorded = recorded_url(config)
    if recorded is not None:
        return recorded, str(server_path(config))
    return connect_url(config.host, config.port), "the settings' host and port"


def read_credentials(path: Path) -> str | None:
    try:
        return path.read_text().strip() or None
    except FileNotFoundError:
        return None


def write_credentials(path: Path, key: str) -> None:
    """Write the key readable by its owner only (0600), never world-readable for a moment."""
    write_private(path, key + "\n")


def api_key(option: str | None, config: Settings) -> str:
    """The key from ``--api-key``, ``AILAYER_API_KEY`` or the credentials file, in that order."""
    key = option or os.environ.get("AILAYER_API_KEY") or read_credentials(config.credentials_path)
    if not key:
        raise click.ClickException(
            "no API key: pass --api-key, set AILAYER_API_KEY, or run `ailayer up` first"
        )
    return key


class CliClient(Client):
    """The SDK client whose "cannot reach" error says where the URL came from and how to
    point the CLI elsewhere."""

    def __init__(self, url: str, source: str, key: str) -> None:
        super().__init__(url, key)
        self.source = source

    def _send(self, call: Call) -> Any:
        try:
            return super()._send(call)
        except BackendUnavailable as exc:
            if not isinstance(exc.__cause__, httpx.TransportError):
                raise
            raise BackendUnavailable(
                f"cannot reach ailayer at {self.url} (from {self.source}): {exc.__cause__}; "
                f"{ELSEWHERE}",
                retry_after=exc.retry_after,
            ) from None


def client(url: str | None, api_key_option: str | None) -> CliClient:
    config = settings()
    where, source = server_url(url, config)
    return CliClient(where, source, api_key(api_key_option, config))


@contextlib.contextmanager
def local_services() -> Iterator[Services]:
    """The configured stores, built in this process and closed when the block ends."""
    from ailayer.bootstrap import build  # here: commands that use the API never need it

    services = build(settings())
    try:
        yield services
    finally:
        services.close()


@contextlib.contextmanager
def tenant_services(
    api_key_option: str | None, permission: Permission
) -> Iterator[tuple[Services, str]]:
    """The configured stores in this process and the key's tenant, once the key is known
    and holds ``permission``; closed when the block ends, also when the key is refused."""
    with local_services() as services:
        principal = services.keys.authenticate(api_key(api_key_option, services.settings))
        principal.require(permission)
        yield services, principal.tenant_id


url_option = click.option(
    "--url",
    default=None,
    help="Server URL (default: AILAYER_URL, else where `ailayer up` serves from this "
    "folder, else the settings' host:port).",
)
key_option = click.option(
    "--api-key", default=None, help="API key (default: AILAYER_API_KEY or .ailayer/credentials)."
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")


metrics_port_option = click.option(
    "--metrics-port",
    type=click.IntRange(1, 65535),
    default=None,
    help="Serve Prometheus metrics (consumer lag, event counts), /healthz and /readyz on this "
    "port (host: setting).",
)


@contextlib.contextmanager
def runner_metrics(runners: list, port: int | None) -> Iterator[None]:
    """While the block runs, the runners' metrics, ``/healthz`` and ``/readyz`` on
    ``port`` (nothing when None; ready while every runner consumes)."""
    from ailayer.cli.roles import role_listener
    from ailayer.events.metrics import RunnerCollector

    with role_listener([RunnerCollector(runners)], port, settings().host, _consuming(runners)):
        yield


def _consuming(runners: list) -> Callable[[], str | None]:
    def check() -> str | None:
        waiting = sorted({r.topic for r in runners if not r.consuming})
        return (
            f"not consuming (subscribing, or the broker is away): {', '.join(waiting)}"
            if waiting
            else None
        )

    return check
