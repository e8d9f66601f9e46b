"""Identifiers: time-ordered ids for rows and predictions, random secrets for keys."""

from __future__ import annotations

import os
import secrets
import time


def new_id() -> str:
    """A 32-hex-char id whose first 12 chars are milliseconds since the epoch (UUIDv7 layout).

    Time-ordered ids keep index inserts local and let people sort by creation.
    """
    millis = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (millis << 80) | rand
    value = (value & ~(0xF << 76)) | (0x7 << 76)  # version 7
    return f"{value:032x}"


def new_secret(nbytes: int = 24) -> str:
    """URL-safe random text for API key secrets."""
    return secrets.token_urlsafe(nbytes)
