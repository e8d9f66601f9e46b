"""Handlers that the CLI tests name as ``--handler tests.unit.events.cli_handlers:...``."""

from __future__ import annotations

from ailayer.events import Event

SEEN: list[int] = []


def record(event: Event) -> None:
    """A sync handler: fails on negative amounts, records the rest."""
    if event.data["n"] < 0:
        raise ValueError(f"negative n {event.data['n']}")
    SEEN.append(event.data["n"])
