"""Starting a Spark session that fails fast: a missing pyspark, an unreachable master or
a cluster that gives no executors is an error naming the setting, never a hang.

Before Spark is asked for anything, a ``spark://`` or ``k8s://`` master's address is
tried over TCP; then (except in local mode) a one-task job must finish within the
timeout, or it is cancelled and the session stopped.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from ailayer.core.errors import BackendUnavailable

# what every session of ours needs: UTC times, Arrow transfers, nanosecond Parquet
# timestamps readable (as longs: the engine turns them into microseconds)
BASE_CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.legacy.parquet.nanosAsLong": "true",
    "spark.ui.showConsoleProgress": "false",
    "spark.ui.enabled": "false",
}
APP_NAME = "ailayer"


def start_session(master: str, timeout: float, conf: Mapping[str, str]) -> tuple[Any, bool]:
    """(session, whether this call created it). A session already running in this process
    is reused (Spark allows one per process)."""
    try:
        from pyspark import SparkContext
        from pyspark.sql import SparkSession
    except ImportError:
        raise BackendUnavailable(
            "batch_engine is 'spark' but pyspark is not installed here: "
            "pip install 'ailayer[spark]', or set batch_engine to duckdb"
        ) from None
    probe_master(master, timeout)
    if SparkContext._active_spark_context is not None:  # one context per process: share it
        return SparkSession.builder.getOrCreate(), False
    builder = SparkSession.builder.master(master).appName(APP_NAME)
    for key, value in {**BASE_CONF, **conf}.items():
        builder = builder.config(key, value)
    try:
        session = builder.getOrCreate()
    except Exception as exc:  # the JVM did not start or the master refused us
        raise BackendUnavailable(
            f"could not start Spark at spark_master {master!r}: {_first_line(exc)} "
            "(is Java 17+ installed and JAVA_HOME set?)"
        ) from None
    session.sparkContext.setLogLevel("ERROR")
    if not master.startswith("local"):
        _check_executors(session, master, timeout)
    return session, True


def probe_master(master: str, timeout: float) -> None:
    """A ``spark://h1:p1,h2:p2`` or ``k8s://https://host:port`` master must accept a TCP
    connection within ``timeout`` seconds (one of them, for several masters)."""
    addresses = master_addresses(master)
    if not addresses:
        return
    errors = []
    for host, port in addresses:
        try:
            socket.create_connection((host, port), timeout=min(timeout, 10.0)).close()
            return
        except OSError as exc:
            errors.append(f"{host}:{port}: {exc.strerror or exc}")
    raise BackendUnavailable(
        f"cannot reach the Spark master of spark_master {master!r} ({'; '.join(errors)}); "
        "check the URL and that the master runs, or set batch_engine to duckdb"
    )


def master_addresses(master: str) -> list[tuple[str, int]]:
    """The (host, port) pairs a master URL names; none for local, yarn and the like."""
    if master.startswith("spark://"):
        pairs = master.removeprefix("spark://").split(",")
        return [_host_port(pair, 7077) for pair in pairs if pair]
    if master.startswith("k8s://"):
        api = urlsplit(master.removeprefix("k8s://"))
        default = 443 if api.scheme != "http" else 80
        return [(api.hostname or "", api.port or default)]
    return []


def _host_port(pair: str, default: int) -> tuple[str, int]:
    host, _, port = pair.rpartition(":")
    if not host:
        return pair, default
    try:
        return host.strip("[]"), int(port)
    except ValueError:
        return pair, default


def _check_executors(session: Any, master: str, timeout: float) -> None:
    """A one-task job must finish within ``timeout``: a master that accepts the
    application but never gives it an executor would otherwise leave every job waiting."""
    context = session.sparkContext
    group = "ailayer-executor-check"
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            context.setJobGroup(group, "ailayer: is any executor there?", True)
            session.range(1).count()
            outcome.append(None)
        except BaseException as exc:  # reported to the caller below
            outcome.append(exc)

    worker = threading.Thread(target=run, name="spark-executor-check", daemon=True)
    worker.start()
    worker.join(timeout)
    if outcome and outcome[0] is None:
        return
    context.cancelJobGroup(group)
    session.stop()
    said = _first_line(outcome[0]) if outcome else f"no executor within {timeout:g} s"
    raise BackendUnavailable(
        f"the Spark cluster at spark_master {master!r} ran no work ({said}); check that "
        "it has free workers, or raise spark_timeout_seconds"
    )


def _first_line(exc: BaseException | None) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__
