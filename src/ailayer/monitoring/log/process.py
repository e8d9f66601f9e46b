"""The prediction log's writer process: log encoding and writing off the serving process.

Turning answered requests into Parquet rows (one JSON text per row's features, Arrow
columns, the journal, the part files) costs more CPU than answering them: measured on a
1,000-row request, about 3 ms against 1 ms for parsing, validating, predicting and
answering. In a thread of the serving process it takes the GIL from the event loop, so
the server answered at a third of the rate it could. With ``log_process`` on (the
default), the serving process only hands each staged batch of entries to a child
process as one payload (predict bodies as they came, predictions by column, target
fields once per target); the child decodes them and runs a ``LocalBackend`` (PII hashing, journal, part
files) on another core.

The child is started on first use, or by ``LogWriter.start``, and replays orphaned
journals before it says it is ready. Frames are length-prefixed (``FRAME``: kind, size):
the parent sends the spec, then entries and flush requests over the child's stdin; the
child answers each flush on its stdout with its written and failed row counts so far.

Faults: when the serving process dies, the child reads to the end of its stdin, writes
everything it was handed and exits. When the child dies, the entries it had not yet
journaled are lost and counted as failed; the next hand-off starts a new child, which
replays the dead one's journal first. The child never logs rows, only counts.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import logging
import os
import queue
import selectors
import signal
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson

from ailayer.monitoring.log.buffer import Entry
from ailayer.monitoring.log.payload import decode_entries, encode_entries, encode_pieces

__all__ = ["LogProcess", "decode_entries", "encode_entries", "main"]

logger = logging.getLogger("ailayer.monitoring")

FRAME = struct.Struct("<cI")  # kind, payload length
SPEC, ENTRIES, FLUSH, READY, COUNTS = b"S", b"E", b"F", b"R", b"C"
START_TIMEOUT = 60.0  # seconds for the child to import, connect and replay journals
REPLY_TIMEOUT = 120.0  # seconds for a flush (a slow object store may hold it)
NICENESS = 10  # below the server it writes for: answers first, the log when there is room
PIPE_BYTES = 1 << 20  # Linux's default cap for an unprivileged process
WRITE_ROWS = 100_000  # the child writes part files sooner when it holds this many rows
HOLD_ROWS = 4 * WRITE_ROWS  # … and stops reading while a write runs and it holds this many


def widen_pipe(pipe: IO[bytes]) -> None:
    """Let the pipe hold a few 1,000-row payloads (Linux: up to ``PIPE_BYTES``; 64 KiB
    otherwise), so a hand-off does not wait on the child while it writes a part file."""
    with contextlib.suppress(AttributeError, OSError):  # not Linux, or over the system's cap
        fcntl.fcntl(pipe.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)


IOV_MAX = 1024  # pieces per writev (POSIX's minimum is 16; Linux takes 1,024)


def write_frame(out: IO[bytes], kind: bytes, payload: bytes | Sequence[bytes] = b"") -> None:
    """One frame, whole (unbuffered pipes may take a write in pieces); a payload given as
    pieces is written as they are, by ``writev``: a hand-off of many large bodies is not
    copied into one buffer first."""
    pieces = [payload] if isinstance(payload, bytes) else list(payload)
    views = [memoryview(FRAME.pack(kind, sum(map(len, pieces))))]
    views += [memoryview(piece) for piece in pieces if piece]
    fd = out.fileno()
    while views:
        written = os.writev(fd, views[:IOV_MAX])
        while written:
            if written < len(views[0]):
                views[0], written = views[0][written:], 0
            else:
                written -= len(views.pop(0))


def read_frame(source: IO[bytes]) -> tuple[bytes, bytes] | None:
    """The next frame, or None at the end of the stream (a torn frame counts as the end)."""
    head = _read_exactly(source, FRAME.size)
    if head is None:
        return None
    kind, size = FRAME.unpack(head)
    payload = _read_exactly(source, size)
    return None if payload is None else (kind, payload)


def _read_exactly(source: IO[bytes], size: int) -> bytes | None:
    """``size`` bytes, or None at the end of the stream. One read takes all when the pipe
    holds it (no buffer to zero and copy again); otherwise the pieces are joined."""
    if size == 0:
        return b""
    pieces: list[bytes] = []
    done = 0
    while done < size:
        got = source.read(size - done)
        if not got:
            return None
        pieces.append(got)
        done += len(got)
    return pieces[0] if len(pieces) == 1 else b"".join(pieces)


class LogProcess:
    """A ``LogBackend``: the serving process's handle on its log writer process
    (thread-safe). Everything staged is handed over at once; the child writes part files
    on its own clock, and a flush collects its counts."""

    stage_interval = 0.0
    writes_early = False

    def __init__(self, spec: dict[str, Any]) -> None:
        """``spec``: ``metadata_url``, ``offline_store``, ``journal`` (a directory) and
        ``interval`` (seconds between the child's own writes)."""
        self.spec = spec
        self._child: subprocess.Popen | None = None
        self._lock = threading.Lock()  # the child's stdin and its replacement
        self._reply_lock = threading.Lock()  # its stdout
        self._written = 0  # the child's totals at its last answer
        self._failed = 0
        self.replayed = 0

    @property
    def running(self) -> bool:
        return self._child is not None and self._child.poll() is None

    def recover(self) -> int:
        """Start the child if it is not running; the rows it replayed from journals."""
        with self._lock:
            self._ensure()
            return self.replayed

    def stage(self, entries: Sequence[Entry]) -> int:
        """Hand ``entries`` to the child; the rows that could not be handed over."""
        pieces, failed = encode_pieces(entries)
        with self._lock:
            try:
                self._ensure()
                write_frame(self._stdin(), ENTRIES, pieces)
            except (OSError, ValueError):
                self._lost("handing over entries")
                return sum(entry.size for entry in entries)
        return failed

    def flush(self) -> tuple[int, int]:
        """Have the child write what it holds; the rows written and failed since the
        previous answer (its own timed writes included). No child: nothing to write.
        Hand-offs go on while the child writes; they queue behind this request."""
        with self._reply_lock:  # one reader of the child's answers at a time
            with self._lock:
                child = self._child
                if child is None:
                    return 0, 0
                try:
                    write_frame(self._stdin(), FLUSH)
                except (OSError, ValueError):
                    self._lost("flushing")
                    return 0, 0
            try:
                answer = self._read(child, COUNTS, REPLY_TIMEOUT)
            except (OSError, ValueError, TimeoutError):
                with self._lock:
                    if self._child is child:
                        self._lost("flushing")
                return 0, 0
            with self._lock:
                return self._counts(answer) if self._child is child else (0, 0)

    def close(self) -> tuple[int, int]:
        """Let the child write everything and exit; the last counts."""
        with self._reply_lock, self._lock:
            child, self._child = self._child, None
            if child is None:
                return 0, 0
            try:
                assert child.stdin is not None
                child.stdin.close()  # the end of the stream: the child writes all and exits
                answer = self._read(child, COUNTS, REPLY_TIMEOUT)
                child.wait(timeout=REPLY_TIMEOUT)
            except (OSError, ValueError, TimeoutError, subprocess.TimeoutExpired):
                logger.warning("prediction log process did not finish cleanly; killing it")
                child.kill()
                child.wait()
                return 0, 0
            return self._counts(answer)

    def _ensure(self) -> None:
        if self.running:
            return
        child = subprocess.Popen(
            [sys.executable, "-c", "from ailayer.monitoring.log.process import main; main()"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            bufsize=0,  # unbuffered: a frame read leaves nothing behind the selector's back
        )
        assert child.stdin is not None
        widen_pipe(child.stdin)
        write_frame(child.stdin, SPEC, orjson.dumps(self.spec))  # URLs: never in argv
        try:
            ready = self._read(child, READY, START_TIMEOUT)
        except (OSError, ValueError, TimeoutError):
            child.kill()
            child.wait()
            raise
        self._child, self._written, self._failed = child, 0, 0
        self.replayed += int(ready or b"0")

    def _stdin(self) -> IO[bytes]:
        assert self._child is not None and self._child.stdin is not None
        return self._child.stdin

    @staticmethod
    def _read(child: subprocess.Popen, kind: bytes, timeout: float) -> bytes:
        assert child.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(child.stdout, selectors.EVENT_READ)
            if not selector.select(timeout):
                raise TimeoutError(f"the prediction log process did not answer in {timeout} s")
        frame = read_frame(child.stdout)
        if frame is None or frame[0] != kind:
            raise OSError("the prediction log process ended")
        return frame[1]

    def _counts(self, answer: bytes) -> tuple[int, int]:
        written, failed = orjson.loads(answer)
        delta = written - self._written, failed - self._failed
        self._written, self._failed = written, failed
        return delta

    def _lost(self, doing: str) -> None:
        """The child died (or stopped answering): the next hand-off starts another."""
        logger.error("prediction log process failed while %s; starting another", doing)
        child, self._child = self._child, None
        if child is not None and child.poll() is None:
            child.kill()
        if child is not None:
            child.wait()


# --- the child ------------------------------------------------------------------------


def serve(source: IO[bytes], out: IO[bytes]) -> None:
    """The child's loop: entries into a ``LocalBackend`` (journal, part files), a write
    every ``interval`` or ``WRITE_ROWS`` rows (in the background: ``Writes``) and on each
    flush request, everything at the end."""
    from ailayer.db.engine import Database
    from ailayer.features.files import open_folder
    from ailayer.features.offline import tenant_folder
    from ailayer.monitoring.log.journal import Journal
    from ailayer.monitoring.log.local import LocalBackend
    from ailayer.monitoring.log.pii import SaltStore
    from ailayer.monitoring.log.sink import ParquetSink

    frame = read_frame(source)
    if frame is None or frame[0] != SPEC:
        return
    spec = orjson.loads(frame[1])
    db = Database(spec["metadata_url"])
    tenant_root = functools.partial(tenant_folder, open_folder(spec["offline_store"]))
    backend = LocalBackend(ParquetSink(tenant_root, SaltStore(db)), Journal(Path(spec["journal"])))
    counts = Counts()
    write_frame(out, READY, str(backend.recover()).encode())
    writes = Writes(backend, counts, out)
    interval = float(spec["interval"])
    last = time.monotonic()
    with selectors.DefaultSelector() as selector:
        selector.register(source, selectors.EVENT_READ)
        while True:
            wait = max(0.0, interval - (time.monotonic() - last))
            if selector.select(wait):
                frame = read_frame(source)
                if frame is None:
                    break
                kind, payload = frame
                if kind == ENTRIES:
                    failed = backend.stage_payload(payload)
                    if failed:
                        counts.add((0, failed))
                    if backend.pending_rows >= HOLD_ROWS:
                        writes.wait()  # behind by that much: the pipe waits meanwhile
                    if backend.pending_rows >= WRITE_ROWS:
                        writes.start()
                        last = time.monotonic()
                elif kind == FLUSH:
                    writes.answer()
                    last = time.monotonic()
            if time.monotonic() - last >= interval:
                writes.start()
                last = time.monotonic()
    writes.close()
    counts.add(backend.close())
    _answer(out, counts)
    db.dispose()


class Writes:
    """The child's part-file writes and its answers to flush requests, in a thread of
    their own, in the order asked. While one writes (building the tables, encoding
    Parquet: tens of ms for ``WRITE_ROWS`` rows) the loop goes on reading the pipe and
    journaling what comes, so the serving process's hand-offs are not held up behind it
    (held up long enough, its bounded buffer drops rows). The backend stages into a new
    journal segment while a write runs; a write takes everything staged before it began,
    so an answer given after its write covers every hand-off before the request."""

    def __init__(self, backend: Any, counts: Counts, out: IO[bytes]) -> None:
        self.backend = backend
        self.counts = counts
        self.out = out
        self._tasks: queue.Queue[bool | None] = queue.Queue()  # answer after it? None: stop
        self._thread = threading.Thread(target=self._run, name="log-write", daemon=True)
        self._thread.start()

    def start(self) -> None:
        """Write what is staged, unless a write is already waiting to start."""
        if self._tasks.qsize() == 0:  # none waiting behind the one running (if any)
            self._tasks.put(False)

    def answer(self) -> None:
        """Write what is staged, then answer with the counts (a flush request)."""
        self._tasks.put(True)

    def wait(self) -> None:
        """Until every write asked for is done."""
        self._tasks.join()

    def close(self) -> None:
        self._tasks.put(None)
        self._thread.join()

    def _run(self) -> None:
        while (task := self._tasks.get()) is not None:
            try:
                self.counts.add(self.backend.flush())
            except Exception:  # the backend counts a failed write; this is past that
                logger.exception("prediction log: a write failed")
            if task:
                _answer(self.out, self.counts)
            self._tasks.task_done()
        self._tasks.task_done()


@dataclass
class Counts:
    """The child's totals, which its answers carry."""

    written: int = 0
    failed: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)  # the loop and the writes

    def add(self, counts: tuple[int, int]) -> None:
        with self.lock:
            self.written += counts[0]
            self.failed += counts[1]

    def now(self) -> list[int]:
        with self.lock:
            return [self.written, self.failed]


def _answer(out: IO[bytes], counts: Counts) -> None:
    """The counts, to a serving process that may be gone (then nobody needs them)."""
    with contextlib.suppress(BrokenPipeError, ValueError):
        write_frame(out, COUNTS, orjson.dumps(counts.now()))


def main() -> None:
    """The child's entry. It ignores SIGINT and SIGTERM, which a terminal or a service
    manager sends the whole process group: its server shuts down and closes the pipe,
    and the child exits once it has written what the pipe held."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    os.nice(NICENESS)
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s prediction-log[%(process)d] %(levelname)s %(message)s",
    )
    source = os.fdopen(sys.stdin.fileno(), "rb", buffering=0)
    out = os.fdopen(sys.stdout.fileno(), "wb", buffering=0)
    sys.stdout = sys.stderr  # nothing else may write into the answer stream
    serve(source, out)
