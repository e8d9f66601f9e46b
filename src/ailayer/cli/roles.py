"""What the worker roles of the ``ailayer`` command share (``monitor``, ``controller``,
``scheduler``, ``consume``, ``stream run``): one keyless listener on ``--metrics-port``
for the role's Prometheus series, ``/healthz`` and ``/readyz`` (ready while the role's
dependencies answer), and SIGTERM as a graceful stop: the loop finishes its pass or
batch, then the process exits 0, as a container orchestrator expects.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterable, Iterator
from typing import Any

import click
from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy import text

from ailayer.api.metrics import Readiness, open_metrics

role_port_option = click.option(
    "--metrics-port",
    type=click.IntRange(1, 65535),
    default=None,
    help="Serve this role's Prometheus metrics, /healthz and /readyz on this port (host: setting).",
)


@contextlib.contextmanager
def role_listener(
    collectors: Iterable[Collector], port: int | None, host: str, ready: Readiness | None = None
) -> Iterator[None]:
    """While the block runs, the collectors' series (and the process' CPU and memory),
    ``/healthz`` and ``/readyz`` on ``host:port``; nothing when ``port`` is None. A port
    already taken is an error naming it, never scrapes answered by another process."""
    if port is None:
        yield
        return
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    for collector in collectors:
        registry.register(collector)
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    with open_metrics(registry, address, shared=False, ready=ready):
        yield


def database_ready(services: Any) -> Readiness:
    """Ready while the metadata database answers."""

    def check() -> str | None:
        with services.db.read() as conn:
            conn.execute(text("SELECT 1"))
        return None

    return check


@contextlib.contextmanager
def stop_on_sigterm(stop: threading.Event) -> Iterator[None]:
    """While the block runs, SIGTERM sets ``stop`` instead of killing the process (only
    the main thread can take signals; elsewhere nothing changes)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
