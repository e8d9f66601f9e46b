"""Identifiers: time-ordered ids for rows and predictions, random secrets for keys."""

from __future__ import annotations

import os
import secrets
import time

RANDOM_BYTES = 10  # 80 bits after the 48-bit millisecond prefix; 4 of them hold the version
ID_BYTES = 6 + RANDOM_BYTES
_VERSION_7 = bytes(0x70 | (b & 0x0F) for b in range(256))  # a byte's high nibble set to 7


def new_id() -> str:
    """A 32-hex-char id whose first 12 chars are milliseconds since the epoch (UUIDv7 layout).

    Time-ordered ids keep index inserts local and let people sort by creation.
    """
    return new_ids(1)[0]


def new_ids(count: int) -> list[str]:
    """``count`` ids laid out as ``new_id``'s, from one ``os.urandom`` call: a batch of
    predictions pays one system call and a few C-level passes, not a Python loop per id.
    Each id is 16 bytes in one buffer (6 of time, 10 random), hexed with a separator
    every 16 bytes, then split."""
    if count <= 0:
        return []
    millis = time.time_ns() // 1_000_000
    prefix = (millis & 0xFFFF_FFFF_FFFF).to_bytes(6, "big")
    buffer = bytearray(os.urandom(ID_BYTES * count))  # the first 6 of each are replaced
    for position, byte in enumerate(prefix):
        buffer[position::ID_BYTES] = bytes((byte,)) * count
    buffer[6::ID_BYTES] = buffer[6::ID_BYTES].translate(_VERSION_7)
    return buffer.hex(" ", ID_BYTES).split(" ")


def new_secret(nbytes: int = 24) -> str:
    """URL-safe random text for API key secrets."""
    return secrets.token_urlsafe(nbytes)
