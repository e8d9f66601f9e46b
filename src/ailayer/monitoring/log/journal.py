"""A local write-ahead journal for the prediction log, so a killed server loses nothing
it answered more than a moment before.

The writer stages the buffer into the journal every ``STAGE_INTERVAL`` seconds and
writes part files every second; once parts are stored the journal is emptied. A process
that dies (``kill -9``, OOM) leaves its journal behind, and the next process that starts
a log writer on the same home replays it into part files, then deletes it.

Each process appends to a file of its own, holding an exclusive ``flock`` on it for its
whole life, so a journal is replayed only once its writer is gone, whatever the number
of serving processes. Records are framed (length, CRC-32, then the record): either an
Arrow IPC stream with the part's tenant, endpoint and day in its metadata, rows with PII
already hashed or redacted; or, in a log process, the hand-off payload as the serving
process sent it (``payload.py``: one write, no encoding), journaled so only when no row
in it has PII to treat, and decoded into parts again on replay (the length's top bit
tells the kinds apart). A torn last record is ignored. A write reaches the kernel at
once, which survives the process; surviving a power loss would need ``fsync`` per
stage, which is not done.
"""

from __future__ import annotations

import fcntl
import logging
import os
import struct
import zlib
from collections.abc import Iterator, Sequence
from datetime import date
from pathlib import Path

import pyarrow as pa

from ailayer.core.ids import new_id
from ailayer.monitoring.log.sink import LogPart

logger = logging.getLogger("ailayer.monitoring")

STAGE_INTERVAL = 0.2
HEADER = struct.Struct("<II")  # payload length, CRC-32 of the payload
PAYLOAD = 1 << 31  # set in the length: the record is a hand-off payload, not Arrow IPC
SUFFIX = ".journal"


class Segment:
    """One journal file, open and locked by this process until it is discarded."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.path = directory / f"{os.getpid()}-{new_id()}{SUFFIX}"
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX)

    def append(self, *frames: bytes) -> None:
        """Frames in one write (an append: a record is never interleaved with another)."""
        os.writev(self._fd, frames)

    def discard(self) -> None:
        """Delete it: everything in it is stored."""
        self.path.unlink(missing_ok=True)
        os.close(self._fd)


class Journal:
    """This process's journal in ``directory``: the current segment takes appends; a
    flush rotates it out and discards it once its parts are stored, while new stages
    go to a fresh segment meanwhile."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._current: Segment | None = None

    def append(self, parts: Sequence[LogPart]) -> None:
        if not parts:
            return
        if self._current is None:
            self._current = Segment(self.directory)
        self._current.append(b"".join(_frame(part) for part in parts))

    def append_payload(self, payload: bytes) -> None:
        """A hand-off payload as it came (no raw PII in it: the caller checked)."""
        if self._current is None:
            self._current = Segment(self.directory)
        self._current.append(HEADER.pack(len(payload) | PAYLOAD, zlib.crc32(payload)), payload)

    def rotate(self) -> Segment | None:
        """The current segment, taken out of use (None if nothing was appended)."""
        current, self._current = self._current, None
        return current

    def close(self) -> None:
        """Remove the current segment (call only once everything in it is stored)."""
        segment = self.rotate()
        if segment is not None:
            segment.discard()


def orphans(directory: Path) -> Iterator[tuple[Path, list[LogPart | bytes]]]:
    """Journals left by processes that are gone, with their records (parts, or hand-off
    payloads to decode); each is held locked while the caller stores them, and should be
    deleted by the caller after that."""
    if not directory.is_dir():
        return
    for path in sorted(directory.glob(f"*{SUFFIX}")):
        fd = os.open(path, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # its process is alive and owns it
            os.close(fd)
            continue
        try:
            yield path, read_records(path.read_bytes())
        finally:
            os.close(fd)


def read_parts(data: bytes) -> list[LogPart]:
    """Every whole Arrow record of a journal file; stops at a torn or corrupt one."""
    return [record for record in read_records(data) if isinstance(record, LogPart)]


def read_records(data: bytes) -> list[LogPart | bytes]:
    """Every whole record of a journal file, a part or a hand-off payload (bytes); stops
    at a torn or corrupt one."""
    records: list[LogPart | bytes] = []
    offset = 0
    while offset + HEADER.size <= len(data):
        length, crc = HEADER.unpack_from(data, offset)
        size = length & ~PAYLOAD
        payload = data[offset + HEADER.size : offset + HEADER.size + size]
        if len(payload) < size or zlib.crc32(payload) != crc:
            logger.warning("prediction log journal: a torn record at byte %d ignored", offset)
            break
        records.append(payload if length & PAYLOAD else _part(payload))
        offset += HEADER.size + size
    return records


def _frame(part: LogPart) -> bytes:
    meta = {"tenant_id": part.tenant_id, "endpoint": part.endpoint, "day": part.day.isoformat()}
    table = part.table.replace_schema_metadata(meta)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    payload = sink.getvalue().to_pybytes()
    return HEADER.pack(len(payload), zlib.crc32(payload)) + payload


def _part(payload: bytes) -> LogPart:
    table = pa.ipc.open_stream(payload).read_all()
    meta = {k.decode(): v.decode() for k, v in (table.schema.metadata or {}).items()}
    table = table.replace_schema_metadata(None)
    return LogPart(meta["tenant_id"], meta["endpoint"], date.fromisoformat(meta["day"]), table)
