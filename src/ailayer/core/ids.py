"""Identifiers: time-ordered ids for rows and predictions, random secrets for keys."""

from __future__ import annotations

import os
import secrets
import time
from dataclasses import dataclass

import numpy as np

RANDOM_BYTES = 10  # 80 bits after the 48-bit millisecond prefix; 4 of them hold the version
ID_BYTES = 6 + RANDOM_BYTES


def new_id() -> str:
    """A 32-hex-char id whose first 12 chars are milliseconds since the epoch (UUIDv7 layout).

    Time-ordered ids keep index inserts local and let people sort by creation.
    """
    millis = time.time_ns() // 1_000_000
    raw = bytearray((millis & 0xFFFF_FFFF_FFFF).to_bytes(6, "big") + os.urandom(RANDOM_BYTES))
    raw[6] = 0x70 | (raw[6] & 0x0F)  # the version nibble: 7
    return raw.hex()


def new_ids(count: int) -> list[str]:
    """``count`` ids laid out as ``new_id``'s, made together (``IdBlock``)."""
    return new_id_block(count).texts()


@dataclass(frozen=True, slots=True)
class IdBlock:
    """A batch of ids as made: ``ID_BYTES`` each in one buffer. The API shows them as
    texts (``texts``); the prediction log takes the buffer as it is, and its writer
    process makes the texts it stores (``hex``), so the serving process never joins or
    checks 1,000 strings to hand them over."""

    raw: bytes

    def __len__(self) -> int:
        return len(self.raw) // ID_BYTES

    def texts(self) -> list[str]:
        """The ids as 32-hex-char texts, in order."""
        return self.raw.hex(" ", ID_BYTES).split(" ") if self.raw else []

    def hex(self) -> bytes:
        """The texts back to back, as ASCII (each ``2 * ID_BYTES`` characters)."""
        return self.raw.hex().encode()


def new_id_block(count: int) -> IdBlock:
    """``count`` ids from one ``os.urandom`` call of only the random bytes, laid out by
    NumPy: a batch of predictions pays one system call and a few C-level passes, not a
    Python loop per id."""
    if count <= 0:
        return IdBlock(b"")
    millis = time.time_ns() // 1_000_000
    block = np.empty((count, ID_BYTES), dtype=np.uint8)
    block[:, :6] = np.frombuffer((millis & 0xFFFF_FFFF_FFFF).to_bytes(6, "big"), np.uint8)
    block[:, 6:] = np.frombuffer(os.urandom(RANDOM_BYTES * count), np.uint8).reshape(count, -1)
    block[:, 6] = 0x70 | (block[:, 6] & 0x0F)  # the version nibble: 7
    return IdBlock(block.tobytes())


def new_secret(nbytes: int = 24) -> str:
    """URL-safe random text for API key secrets."""
    return secrets.token_urlsafe(nbytes)
