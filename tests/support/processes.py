"""Worker processes that a test kills on purpose: read their output up to the moment they
hold work, and reap them afterwards, whatever happened."""

from __future__ import annotations

import subprocess
import time


def read_until(
    proc: subprocess.Popen[str], marker: str, failure: str, timeout: float = 15
) -> list[str]:
    """The lines ``proc`` printed, up to and including the line ``marker``; an
    AssertionError saying ``failure`` (and the lines) if it exits or ``timeout`` passes."""
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline().strip()
        if not line and proc.poll() is not None:
            break
        lines.append(line)
        if line == marker:
            return lines
    raise AssertionError(f"{failure}: {lines}")


def reap(proc: subprocess.Popen[str]) -> None:
    """Kill ``proc`` if it still runs, wait for it and close its output."""
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=10)
    if proc.stdout is not None:
        proc.stdout.close()
