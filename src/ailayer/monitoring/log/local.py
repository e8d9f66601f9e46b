"""The prediction log written in this process: entries → parts (``LogSink``) → journal →
part files.

Staging turns entries into parts (PII already hashed) and appends them to the journal,
so a killed process loses nothing staged; a flush rotates the journal out, writes the
parts staged before it and discards the rotated segment. Staging goes on while a flush
writes: the next parts go to a fresh segment.
"""

from __future__ import annotations

import logging
import threading

from ailayer.monitoring.log.buffer import Entry
from ailayer.monitoring.log.journal import STAGE_INTERVAL, Journal, orphans
from ailayer.monitoring.log.sink import LogPart, LogSink

logger = logging.getLogger("ailayer.monitoring")


class LocalBackend:
    """A ``LogBackend`` that writes through ``sink``, journaled in ``journal`` if given."""

    stage_interval = STAGE_INTERVAL
    writes_early = True

    def __init__(self, sink: LogSink, journal: Journal | None = None) -> None:
        self.sink = sink
        self.journal = journal
        self.pending_rows = 0  # staged, not yet in part files
        self._pending: list[LogPart] = []
        self._lock = threading.Lock()  # staged parts and the journal's current segment

    def stage(self, entries: list[Entry]) -> int:
        try:
            parts = self.sink.parts(entries)
            with self._lock:
                if self.journal is not None:
                    self.journal.append(parts)
                self._pending.extend(parts)
                self.pending_rows += sum(part.table.num_rows for part in parts)
        except Exception:
            logger.exception("prediction log: staging %d entries failed", len(entries))
            return sum(entry.size for entry in entries)
        return 0

    def flush(self) -> tuple[int, int]:
        with self._lock:
            parts, self._pending, self.pending_rows = self._pending, [], 0
            segment = self.journal.rotate() if self.journal is not None else None
        if not parts:
            return 0, 0
        try:
            written, failed = self.sink.write(parts), 0
        except Exception:
            written, failed = 0, sum(part.table.num_rows for part in parts)
            logger.exception("prediction log: writing %d parts failed", len(parts))
        if segment is not None:
            segment.discard()
        return written, failed

    def recover(self) -> int:
        if self.journal is None:
            return 0
        stored = 0
        for path, parts in orphans(self.journal.directory):
            if parts:
                rows = self.sink.write(parts)
                logger.warning("prediction log: %d rows replayed from %s", rows, path.name)
                stored += rows
            path.unlink()
        return stored

    def close(self) -> tuple[int, int]:
        counts = self.flush()
        if self.journal is not None:
            self.journal.close()
        return counts
