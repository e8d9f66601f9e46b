"""Handlers that the CLI tests name as ``--handler tests.support.cli_handlers:...``."""

from __future__ import annotations

from ailayer.events import Event

SEEN: list[int] = []


def record(event: Event) -> None:
    """A sync handler: fails on negative amounts, records the rest."""
    if event.data["n"] < 0:
        raise ValueError(f"negative n {event.data['n']}")
    SEEN.append(event.data["n"])


METRICS_PORT: list[int] = []
SCRAPES: list[str] = []
READINESS: list[int] = []


def scrape_metrics(event: Event) -> None:
    """Records the consumer's own /metrics, as Prometheus would scrape it mid-run, and
    its /readyz status, as a kubelet would probe it."""
    import httpx

    SCRAPES.append(httpx.get(f"http://127.0.0.1:{METRICS_PORT[0]}/metrics").text)
    READINESS.append(httpx.get(f"http://127.0.0.1:{METRICS_PORT[0]}/readyz").status_code)


async def append_slowly(event: Event) -> None:
    """An async handler that takes a while (so a SIGTERM finds some running), then
    appends the event's id to the file ``HANDLED_FILE`` names: one line per handling."""
    import asyncio
    import os

    await asyncio.sleep(0.02)
    with open(os.environ["HANDLED_FILE"], "a") as out:
        out.write(event.id + "\n")
