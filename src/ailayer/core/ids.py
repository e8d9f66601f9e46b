"""Identifiers: time-ordered ids for rows and predictions, random secrets for keys."""

from __future__ import annotations

import os
import secrets
import time

RANDOM_BYTES = 10  # 80 bits after the 48-bit millisecond prefix; 4 of them hold the version
_VERSION_7 = bytes(0x70 | (b & 0x0F) for b in range(256))  # a byte's high nibble set to 7


def new_id() -> str:
    """A 32-hex-char id whose first 12 chars are milliseconds since the epoch (UUIDv7 layout).

    Time-ordered ids keep index inserts local and let people sort by creation.
    """
    millis = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(RANDOM_BYTES), "big")
    value = (millis << 80) | rand
    value = (value & ~(0xF << 76)) | (0x7 << 76)  # version 7
    return f"{value:032x}"


def new_ids(count: int) -> list[str]:
    """``count`` ids laid out as ``new_id``'s, from one ``os.urandom`` call: a batch of
    predictions pays one system call and one hex conversion, not one per row."""
    if count <= 0:
        return []
    millis = time.time_ns() // 1_000_000
    prefix = (millis & 0xFFFF_FFFF_FFFF).to_bytes(6, "big").hex()
    rand = bytearray(os.urandom(RANDOM_BYTES * count))
    rand[::RANDOM_BYTES] = rand[::RANDOM_BYTES].translate(_VERSION_7)
    text = rand.hex()
    step = 2 * RANDOM_BYTES
    return [prefix + text[i : i + step] for i in range(0, len(text), step)]


def new_secret(nbytes: int = 24) -> str:
    """URL-safe random text for API key secrets."""
    return secrets.token_urlsafe(nbytes)
