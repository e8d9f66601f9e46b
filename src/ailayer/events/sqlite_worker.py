"""One SQLite connection on one dedicated thread, for async callers.

The embedded bus and the SQLite idempotency store both keep a WAL-mode file with
``synchronous=FULL`` and must never block the event loop: every call runs on a single
worker thread that owns the connection (SQLite connections are not shared across
threads). A failing database becomes ``BackendUnavailable``, named by ``label``.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

from ailayer.core.files import private_file


class SqliteWorker:
    def __init__(
        self, path: Path, init: Callable[[sqlite3.Connection], None], label: str, thread: str
    ) -> None:
        self.path = path
        self.init = init
        self.label = label
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=thread)
        self._conn: sqlite3.Connection | None = None

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(connection, *args)`` on the worker thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, partial(self._call, fn, *args))

    async def close(self) -> None:
        if self._conn is not None:
            await self.run(lambda conn: conn.close())
            self._conn = None
        self._executor.shutdown(wait=True)

    def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        from ailayer.core.errors import BackendUnavailable

        try:
            return fn(self._connection(), *args)
        except sqlite3.OperationalError as exc:
            raise BackendUnavailable(f"{self.label} failed: {exc}") from exc

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            private_file(self.path)  # 0600, and so its -wal and -shm
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            self.init(conn)
            self._conn = conn
        return self._conn
