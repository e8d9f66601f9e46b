"""A bounded Universal Binary JSON reader: a model file is read here before XGBoost reads it.

XGBoost's own reader recurses once per nesting level, so a file nested a million levels
deep crashes the process instead of raising. We read the file here first, refusing more
than ``max_depth`` levels, counts longer than the bytes that remain, and unknown markers;
only a file that reads cleanly reaches XGBoost. Typed numeric arrays (``[$d#…``, how
XGBoost writes its trees) come back as NumPy arrays, everything else as plain Python.
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np

SCALARS: dict[bytes, tuple[str, int]] = {
    b"i": (">b", 1),
    b"U": (">B", 1),
    b"I": (">h", 2),
    b"l": (">i", 4),
    b"L": (">q", 8),
    b"d": (">f", 4),
    b"D": (">d", 8),
}
CONSTANTS: dict[bytes, Any] = {b"Z": None, b"T": True, b"F": False}


class UBJSONError(ValueError):
    """The bytes are not UBJSON this reader accepts (the message says where and why)."""


def loads(data: bytes, max_depth: int = 64) -> Any:
    """The value ``data`` encodes; raises ``UBJSONError`` for anything malformed."""
    reader = _Reader(memoryview(data), max_depth)
    value = reader.value(0)
    if reader.pos != len(data):
        raise UBJSONError(f"{len(data) - reader.pos} unexpected bytes after the value")
    return value


class _Reader:
    def __init__(self, data: memoryview, max_depth: int) -> None:
        self.data = data
        self.pos = 0
        self.max_depth = max_depth

    def take(self, size: int) -> memoryview:
        if size < 0 or self.pos + size > len(self.data):
            raise UBJSONError(f"truncated at byte {self.pos}")
        chunk = self.data[self.pos : self.pos + size]
        self.pos += size
        return chunk

    def marker(self) -> bytes:
        marker = bytes(self.take(1))
        while marker == b"N":  # no-op padding
            marker = bytes(self.take(1))
        return marker

    def value(self, depth: int, marker: bytes | None = None) -> Any:
        marker = marker or self.marker()
        if marker in CONSTANTS:
            return CONSTANTS[marker]
        if marker in SCALARS:
            fmt, size = SCALARS[marker]
            return struct.unpack(fmt, self.take(size))[0]
        if marker in (b"S", b"H"):
            return self.string()
        if marker == b"C":
            return bytes(self.take(1)).decode("latin-1")
        if marker in (b"[", b"{"):
            if depth >= self.max_depth:
                raise UBJSONError(f"nested deeper than {self.max_depth} levels")
            return self.array(depth + 1) if marker == b"[" else self.object(depth + 1)
        raise UBJSONError(f"unknown marker {marker!r} at byte {self.pos - 1}")

    def count(self) -> int:
        value = self.value(self.max_depth, self.marker())
        if type(value) is not int or value < 0:
            raise UBJSONError(f"a length must be a non-negative integer; got {value!r}")
        if value > len(self.data) - self.pos:
            raise UBJSONError(f"length {value} is longer than the {len(self.data)} bytes")
        return value

    def string(self) -> str:
        try:
            return bytes(self.take(self.count())).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise UBJSONError(f"a string is not UTF-8: {exc}") from None

    def header(self) -> tuple[bytes | None, int | None]:
        """The optional ``$type`` and ``#count`` of an optimized container."""
        kind = count = None
        if bytes(self.data[self.pos : self.pos + 1]) == b"$":
            self.pos += 1
            kind = self.marker()
        if bytes(self.data[self.pos : self.pos + 1]) == b"#":
            self.pos += 1
            count = self.count()
        elif kind is not None:
            raise UBJSONError(f"a typed container without a count at byte {self.pos}")
        return kind, count

    def array(self, depth: int) -> Any:
        kind, count = self.header()
        if kind in SCALARS and count is not None:
            fmt, size = SCALARS[kind]
            raw = self.take(count * size)
            return np.frombuffer(raw, dtype=np.dtype(fmt[1]).newbyteorder(">")).copy()
        if count is not None:
            return [self.value(depth, kind) for _ in range(count)]
        items = []
        while (marker := self.marker()) != b"]":
            items.append(self.value(depth, marker))
        return items

    def object(self, depth: int) -> dict[str, Any]:
        kind, count = self.header()
        result: dict[str, Any] = {}
        if count is not None:
            for _ in range(count):
                key = self.string()
                result[key] = self.value(depth, kind)
            return result
        while bytes(self.data[self.pos : self.pos + 1]) != b"}":
            key = self.string()
            result[key] = self.value(depth)
        self.pos += 1
        return result
