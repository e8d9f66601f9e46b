"""The prediction log written in this process: entries → parts (``LogSink``) → journal →
part files.

Staging turns entries into parts (PII already hashed) and appends them to the journal,
so a killed process loses nothing staged; a flush rotates the journal out, writes the
parts staged before it and discards the rotated segment. Staging goes on while a flush
writes: the next parts go to a fresh segment.

A log process stages hand-off payloads (``stage_payload``): when no row needs PII
treatment the payload itself is the journal record (one write), and its entries become
parts only at the flush, all of the interval's at once, so a busy log builds one table
per endpoint and day per flush instead of one per hand-off.
"""

from __future__ import annotations

import logging
import threading

from ailayer.monitoring.log.buffer import Entry
from ailayer.monitoring.log.journal import STAGE_INTERVAL, Journal, orphans
from ailayer.monitoring.log.payload import decode_entries
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
        self._entries: list[Entry] = []  # staged by payload: made into parts at the flush
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

    def stage_payload(self, payload: bytes) -> int:
        """Stage a hand-off payload (``encode_entries``); the rows that failed. Journaled
        as it came unless a row in it has PII to hash or redact: then its entries are
        staged as parts (``stage``), so no journal ever holds a raw PII value."""
        entries = decode_entries(payload)
        if self.journal is None or any(map(self.sink.needs_pii, entries)):
            return self.stage(entries)
        rows = sum(entry.size for entry in entries)
        try:
            with self._lock:
                self.journal.append_payload(payload)
                self._entries.extend(entries)
                self.pending_rows += rows
        except Exception:
            logger.exception("prediction log: staging %d entries failed", len(entries))
            return rows
        return 0

    def flush(self) -> tuple[int, int]:
        with self._lock:
            parts, self._pending = self._pending, []
            entries, self._entries = self._entries, []
            rows, self.pending_rows = self.pending_rows, 0
            segment = self.journal.rotate() if self.journal is not None else None
        if not parts and not entries:
            return 0, 0
        made, failed = self._parts(entries)
        try:
            written = self.sink.write(parts + made)
        except Exception:
            written, failed = 0, rows
            logger.exception("prediction log: writing %d parts failed", len(parts) + len(made))
        if segment is not None:
            segment.discard()
        return written, failed

    def _parts(self, entries: list[Entry]) -> tuple[list[LogPart], int]:
        """Parts of entries staged by payload, and the rows that could not be made (an
        entry the sink cannot store fails alone, as it would have when staged)."""
        if not entries:
            return [], 0
        try:
            return self.sink.parts(entries), 0
        except Exception:
            logger.exception("prediction log: making parts of %d entries failed", len(entries))
        parts, failed = [], 0
        for entry in entries:
            try:
                parts += self.sink.parts([entry])
            except Exception:
                failed += entry.size
        return parts, failed

    def recover(self) -> int:
        if self.journal is None:
            return 0
        stored = 0
        for path, records in orphans(self.journal.directory):
            parts = [r for r in records if isinstance(r, LogPart)]
            payloads = [decode_entries(r) for r in records if not isinstance(r, LogPart)]
            parts += self._parts([entry for entries in payloads for entry in entries])[0]
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
