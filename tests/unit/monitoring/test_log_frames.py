"""Frames between the serving process and its log process read whole, however the pipe
hands them over: in one read, in pieces, or torn (the end of the stream)."""

from __future__ import annotations

import io
import os

from ailayer.monitoring.log.process import ENTRIES, FLUSH, read_frame, write_frame


class Trickle(io.RawIOBase):
    """A pipe that hands over at most ``step`` bytes a read."""

    def __init__(self, data: bytes, step: int) -> None:
        self.data, self.step, self.at = data, step, 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        size = self.step if size < 0 else min(size, self.step)
        piece = self.data[self.at : self.at + size]
        self.at += len(piece)
        return piece


def _stream(*frames: tuple[bytes, list[bytes]]) -> bytes:
    """The frames as ``write_frame`` puts them into a pipe."""
    read_end, write_end = os.pipe()
    with open(write_end, "wb", buffering=0) as writer:
        for kind, pieces in frames:
            write_frame(writer, kind, pieces)
    with open(read_end, "rb") as reader:
        return reader.read()


def test_frames_read_whole_in_one_read_or_in_pieces() -> None:
    data = _stream((ENTRIES, [b"abc", b"", b"defgh"]), (FLUSH, []), (ENTRIES, [b"x" * 100]))
    for step in (1, 3, 7, len(data)):
        source = Trickle(data, step)
        frames = []
        while (frame := read_frame(source)) is not None:
            frames.append(frame)
        assert frames == [(ENTRIES, b"abcdefgh"), (FLUSH, b""), (ENTRIES, b"x" * 100)]
        assert all(type(payload) is bytes for _, payload in frames)


def test_a_torn_frame_is_the_end_of_the_stream() -> None:
    data = _stream((ENTRIES, [b"abcdef"]))
    for cut in (2, len(data) - 1):
        assert read_frame(Trickle(data[:cut], 4)) is None
