"""Erase requests: how a data subject delete reaches a spool that a running producer holds.

A spool is opened by one process at a time (``spool.py``), so a delete cannot open the
spool of a producer that runs. It leaves a request in the spool's request folder
(``<spool>.erase/<id>.req``, 0600 in a 0700 folder, beside the spool that holds the events
themselves): the tenant, the key, a random nonce and the SHA-256 of nonce, tenant, key and
value, so the value is not written out as text. The producer's ``Outbox`` looks into the
folder every ``CHECK_SECONDS`` (one directory listing, in its disk thread), removes the
events the request matches from its spool, writes ``<id>.done`` holding how many, and
removes the request. The delete waits up to ``WAIT_SECONDS`` for the marker and removes
it; a request nobody answered in time stays, to be honoured by the producer later (or by
the next delete, which opens the spool once it is free).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ailayer.events.envelope import Event

CHECK_SECONDS = 0.5  # how often a running outbox looks for requests
WAIT_SECONDS = 5.0  # how long a delete waits for the producer's answer
STALE_SECONDS = 3600.0  # answers nobody read are removed after this


def value_text(value: Any) -> str | None:
    """An event's key value as a subject's value is written (``42``, ``true``); None for
    values no subject names (missing, nested)."""
    if value is None or isinstance(value, (dict, list)):
        return None
    return str(value).lower() if isinstance(value, bool) else str(value)


def folder(spool: Path) -> Path:
    return spool.with_name(spool.name + ".erase")


def _digest(nonce: str, tenant_id: str, key: str, value: str) -> str:
    text = json.dumps([nonce, tenant_id, key, value])
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Request:
    """One erase request: the tenant's events whose data holds ``key`` with the value."""

    id: str
    tenant_id: str
    key: str
    nonce: str
    digest: str

    def matches(self, event: Event) -> bool:
        if event.tenant != self.tenant_id or not isinstance(event.data, dict):
            return False
        value = value_text(event.data.get(self.key))
        return value is not None and _digest(self.nonce, self.tenant_id, self.key, value) == (
            self.digest
        )


def request(spool: Path, tenant_id: str, key: str, value: str) -> str:
    """Leave a request for the producer holding ``spool``; returns its id."""
    where = folder(spool)
    where.mkdir(mode=0o700, exist_ok=True)
    nonce, rid = secrets.token_hex(16), uuid.uuid4().hex
    body = {"tenant": tenant_id, "key": key, "nonce": nonce}
    body["digest"] = _digest(nonce, tenant_id, key, value)
    _write(where / f"{rid}.req", json.dumps(body))
    return rid


def answer(spool: Path, rid: str, timeout: float = WAIT_SECONDS) -> int | None:
    """How many events the producer removed for request ``rid`` (its marker is then
    removed), or None if it did not answer within ``timeout`` seconds."""
    done = folder(spool) / f"{rid}.done"
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(FileNotFoundError, ValueError):
            count = int(done.read_text())
            done.unlink()
            return count
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.05)


def pending(spool: Path) -> list[Request]:
    """The requests waiting beside ``spool`` (without any: one failed listing)."""
    where = folder(spool)
    try:
        names = sorted(os.listdir(where))
    except FileNotFoundError:
        return []
    found = []
    for name in names:
        if not name.endswith(".req"):
            continue
        with contextlib.suppress(FileNotFoundError, ValueError, KeyError):
            body = json.loads((where / name).read_text())
            found.append(
                Request(
                    name.removesuffix(".req"),
                    body["tenant"],
                    body["key"],
                    body["nonce"],
                    body["digest"],
                )
            )
    return found


def finish(spool: Path, rid: str, removed: int) -> None:
    """Answer request ``rid``: the marker first, then the request goes."""
    where = folder(spool)
    _write(where / f"{rid}.done", str(removed))
    (where / f"{rid}.req").unlink(missing_ok=True)
    cutoff = time.time() - STALE_SECONDS
    for name in os.listdir(where):
        with contextlib.suppress(FileNotFoundError):
            if name.endswith(".done") and (where / name).stat().st_mtime < cutoff:
                (where / name).unlink()


def _write(path: Path, text: str) -> None:
    """Write whole or not at all: a reader never sees half a file."""
    partial = path.with_name(path.name + ".tmp")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(partial, path)
