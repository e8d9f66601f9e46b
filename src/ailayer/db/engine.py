"""The database handle: one engine, read and write transactions, outage translation.

SQLite (the embedded default) and PostgreSQL behave the same to callers:
- ``write()`` takes the write lock up front (``BEGIN IMMEDIATE`` on SQLite; row locks
  taken by the statements themselves on PostgreSQL), so concurrent writers from several
  processes queue instead of failing;
- a lost or refused connection becomes ``BackendUnavailable`` (HTTP 503 with a retry
  hint); the pool pings connections, so the process recovers by itself once the
  database answers again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from ailayer.core.errors import BackendUnavailable
from ailayer.core.files import private_file

SQLITE_BUSY_TIMEOUT_MS = 30_000
_AT_COMMIT = "ailayer.at_commit"  # key in Connection.info: work left for the commit


def normalize_url(url: str) -> str:
    """Accept ``postgresql://`` and pick the psycopg 3 driver for it."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "")
        conn.exec_driver_sql(f"BEGIN {mode}".strip())


def build_engine(url: str) -> Engine:
    url = normalize_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            private_file(Path(parsed.database))  # 0600, and so its -wal and -shm
        engine = create_engine(url, pool_pre_ping=True)
        _configure_sqlite(engine)
        return engine
    return create_engine(
        url,
        pool_pre_ping=True,
        pool_size=10,
        max_overflow=10,
        pool_timeout=10,
        connect_args={"connect_timeout": 5},
    )


class Database:
    """A metadata database, opened from a URL (``sqlite:///…`` or ``postgresql://…``)."""

    def __init__(self, url: str) -> None:
        self.url = normalize_url(url)
        self.engine = build_engine(self.url)
        self.dialect = self.engine.dialect.name

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with _translate_outages(), self.engine.connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction; work handed to ``at_commit`` runs last, just before it
        commits (and not at all if the block raises)."""
        with _translate_outages(), self.engine.connect() as conn:
            if self.dialect == "sqlite":
                conn = conn.execution_options(sqlite_begin="IMMEDIATE")
            with conn.begin():
                conn.info[_AT_COMMIT] = pending = []
                try:
                    yield conn
                    while pending:
                        pending.pop(0)(conn)
                finally:
                    conn.info.pop(_AT_COMMIT, None)

    def dispose(self) -> None:
        self.engine.dispose()


def at_commit(conn: Connection, work: Callable[[Connection], None]) -> None:
    """Run ``work(conn)`` as the last act of ``conn``'s ``Database.write`` transaction, or
    now on any other connection. For a lock that many transactions share (the audit
    chain's head): taken last, it is held only for the commit and never waited on while
    other locks are held, so it cannot be part of a deadlock."""
    pending = conn.info.get(_AT_COMMIT)
    if pending is None:
        work(conn)
    else:
        pending.append(work)


def is_outage(exc: BaseException) -> bool:
    if isinstance(exc, PoolTimeout):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, OperationalError):
        text = str(exc.orig).lower()
        return any(
            word in text
            for word in ("connect", "connection", "server closed", "terminat", "timeout")
        )
    return False


@contextmanager
def _translate_outages() -> Iterator[None]:
    try:
        yield
    except (DBAPIError, PoolTimeout) as exc:
        if is_outage(exc):
            raise BackendUnavailable(
                "the metadata database is unavailable; retry shortly", retry_after=2
            ) from exc
        raise
