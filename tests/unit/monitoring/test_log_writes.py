"""The log process's writes run beside its reading loop (``process.Writes``): a write
that takes long does not hold up the next hand-off, and a flush request is answered only
after a write that began after it, with its rows counted."""

from __future__ import annotations

import io
import threading
from pathlib import Path
from typing import IO

import orjson

from ailayer.monitoring.log.process import COUNTS, Counts, Writes, read_frame


class SlowBackend:
    """Each write takes until ``go`` is set and stores ``rows``."""

    def __init__(self, rows: int) -> None:
        self.rows = rows
        self.go = threading.Event()
        self.began = threading.Event()
        self.writes = 0

    def flush(self) -> tuple[int, int]:
        self.began.set()
        self.go.wait(5)
        self.writes += 1
        return self.rows, 0


def answers(out: IO[bytes]) -> list[list[int]]:
    source, found = io.BytesIO(Path(out.name).read_bytes()), []
    while (frame := read_frame(source)) is not None:
        assert frame[0] == COUNTS
        found.append(orjson.loads(frame[1]))
    return found


def test_a_write_in_progress_does_not_hold_up_the_loop(tmp_path: Path) -> None:
    backend, out = SlowBackend(100), (tmp_path / "answers").open("wb", buffering=0)
    writes = Writes(backend, Counts(), out)
    writes.start()
    assert backend.began.wait(5)
    writes.start()  # waits behind the running one
    writes.start()  # and is not asked twice
    writes.answer()
    assert answers(out) == []  # returned at once, nothing answered before the writes
    backend.go.set()
    writes.wait()
    writes.close()
    out.close()
    assert backend.writes == 3  # the running write, one waiting, the one answered
    assert answers(out) == [[300, 0]]


def test_an_answer_waits_for_a_write_that_began_after_the_request(tmp_path: Path) -> None:
    backend, out = SlowBackend(7), (tmp_path / "answers").open("wb", buffering=0)
    writes = Writes(backend, Counts(), out)
    writes.start()
    assert backend.began.wait(5)
    writes.answer()  # the running write may have missed what came just before
    backend.go.set()
    writes.close()
    out.close()
    assert backend.writes == 2 and answers(out) == [[14, 0]]
