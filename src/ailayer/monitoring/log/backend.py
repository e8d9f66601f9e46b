"""The prediction log's backend port: where staged entries are journaled and written.

``PredictionLog`` owns the bounded buffer the predict path fills; a backend takes what
the buffer held and stores it. Two backends, one module each:

- ``LocalBackend`` (``local.py``): encodes, journals and writes part files in this
  process, through a ``LogSink``;
- ``LogProcess`` (``process.py``): hands the entries to a child process that runs a
  ``LocalBackend`` of its own on another core.

A backend is called from one thread at a time for ``flush``, ``recover`` and ``close``;
``stage`` may run while a ``flush`` writes (staging goes on during a slow write).
"""

from __future__ import annotations

from typing import Protocol

from ailayer.monitoring.log.buffer import Entry


class LogBackend(Protocol):
    stage_interval: float  # seconds between the writer's stages (0: at every poll)
    writes_early: bool  # the writer flushes before its interval when many rows queue

    def stage(self, entries: list[Entry]) -> int:
        """Journal (or hand over) ``entries`` before returning; the rows that failed."""
        ...

    def flush(self) -> tuple[int, int]:
        """Write everything staged so far; the rows written and failed since the last
        call. Never raises for a failing store: its rows count as failed."""
        ...

    def recover(self) -> int:
        """Store what processes that died left in their journals; the rows stored."""
        ...

    def close(self) -> tuple[int, int]:
        """Write what is left and release the journal; the last counts."""
        ...
