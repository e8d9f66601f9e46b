"""A gateway's ``ModelRunner``: model calls, loads (``ready``) and explanations go to
model worker processes, so a gateway never loads a model.

The gateway keeps everything but the model call (auth, routing, features, validation, the
prediction log, shadows); each call goes to one worker over one persistent connection
per worker (``serving.wire``). A worker is picked by fewest calls outstanding, ties in
turn. A call is idempotent (predict has no side effects in ailayer), so when a worker's
connection fails or ends before it answered, the call is sent to the next worker, and the
lost one is left out for ``retry_seconds``; after that the next call tries it again (the
connection attempt is the health check), and a worker that is down is still tried when no
other is left. Only when no worker answers is the call a 503 that names the endpoint.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Sequence
from typing import Any, NoReturn

import numpy as np

from ailayer.core.errors import (
    ERRORS_BY_CODE,
    AilayerError,
    BackendUnavailable,
    BadRequest,
    ModelError,
)
from ailayer.core.ids import new_id
from ailayer.core.settings import listen_address
from ailayer.core.tracing import TRACING_OFF, Tracing
from ailayer.models.flavors import Predictions
from ailayer.serving.target import Target
from ailayer.serving.wire import (
    EXPLAIN,
    HELLO,
    OK,
    READY,
    WireError,
    decode_answer,
    decode_reply,
    encode_call,
    encode_explain,
    encode_ready,
    frame,
    read_frame,
)

logger = logging.getLogger("ailayer.serving")


class WorkerLost(Exception):
    """The worker could not be reached, or its connection ended before it answered: the
    call may go to another worker."""


class Connection:
    """One open connection to a worker: any number of calls in flight, matched by id."""

    def __init__(
        self, address: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.address = address
        self.writer = writer
        self.pending: dict[int, asyncio.Future[bytes]] = {}
        self.closed = False
        self._ids = itertools.count(1)
        self._reading = asyncio.get_running_loop().create_task(self._read(reader))

    async def call(self, body: bytes, timeout: float) -> bytes:
        if self.closed:
            raise WorkerLost(f"the connection to {self.address} is closed")
        request_id = next(self._ids)
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self.pending[request_id] = future
        try:
            self.writer.write(frame(request_id, body))
            await self.writer.drain()
            async with asyncio.timeout(timeout):
                return await future
        except (ConnectionError, OSError) as exc:
            self.close(f"{type(exc).__name__}: {exc}")
            raise WorkerLost(f"{self.address}: {type(exc).__name__}") from None
        finally:
            self.pending.pop(request_id, None)

    async def _read(self, reader: asyncio.StreamReader) -> None:
        reason = "the worker closed the connection"
        try:
            while True:
                request_id, body = await read_frame(reader)
                future = self.pending.get(request_id)
                if future is not None and not future.done():
                    future.set_result(body)
        except asyncio.IncompleteReadError:
            pass
        except (ConnectionError, OSError, WireError) as exc:
            reason = f"{type(exc).__name__}: {exc}"
        finally:
            self.close(reason)

    def close(self, reason: str = "closed") -> None:
        """Close, failing every call still waiting with ``WorkerLost`` (they go elsewhere)."""
        if self.closed:
            return
        self.closed = True
        self.writer.close()
        for future in self.pending.values():
            if not future.done():
                future.set_exception(WorkerLost(f"{self.address}: {reason}"))
        if self._reading is not asyncio.current_task():
            self._reading.cancel()


class WorkerLink:
    """One worker: its address, its connection (opened on first use, per event loop), and
    until when it is left out after it was lost."""

    def __init__(self, address: str, secret: str, connect_timeout: float) -> None:
        self.address = address
        self.host, self.port = listen_address(address)
        self.secret = secret.encode()
        self.connect_timeout = connect_timeout
        self.down_until = 0.0
        self._connection: Connection | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock: asyncio.Lock | None = None

    @property
    def outstanding(self) -> int:
        connection = self._connection
        return len(connection.pending) if connection is not None else 0

    async def call(self, body: bytes, timeout: float) -> bytes:
        connection = self._connection
        if connection is None or connection.closed or self._loop is not _loop():
            connection = await self._connect()
        return await connection.call(body, timeout)

    async def _connect(self) -> Connection:
        loop = _loop()
        if self._loop is not loop:  # a new event loop (tests): nothing of the old one is usable
            self._loop, self._lock, self._connection = loop, asyncio.Lock(), None
        assert self._lock is not None
        async with self._lock:
            if self._connection is not None and not self._connection.closed:
                return self._connection
            try:
                async with asyncio.timeout(self.connect_timeout):
                    reader, writer = await asyncio.open_connection(self.host, self.port)
                    writer.write(frame(HELLO, self.secret))
                    await writer.drain()
                    _, answer = await read_frame(reader)
            except (ConnectionError, OSError, TimeoutError, asyncio.IncompleteReadError) as exc:
                raise WorkerLost(f"{self.address}: cannot connect ({type(exc).__name__})") from None
            if answer != OK:
                writer.close()
                raise WorkerLost(
                    f"{self.address} refused the gateway (check model_worker_secret on both)"
                )
            self._connection = Connection(self.address, reader, writer)
            return self._connection

    def close(self) -> None:
        if self._connection is not None and self._loop is _loop():
            self._connection.close()
        self._connection = None


class RemoteRunner:
    def __init__(
        self,
        addresses: Sequence[str],
        *,
        secret: str = "",
        timeout: float = 30.0,
        retry_seconds: float = 2.0,
        connect_timeout: float = 1.0,
        tracing: Tracing = TRACING_OFF,
    ) -> None:
        if not addresses:
            raise ValueError("a remote runner needs at least one model worker address")
        self.links = [WorkerLink(a, secret, connect_timeout) for a in addresses]
        self.timeout = timeout
        self.retry_seconds = retry_seconds
        self.tracing = tracing
        self._turn = 0

    async def predict(
        self, tenant_id: str, target: Target, matrix: np.ndarray, *, in_thread: bool = False
    ) -> Predictions:
        version = target.version
        body = encode_call(
            tenant_id, version.model, version.version, version.cache_key[2], matrix, in_thread
        )
        with self.tracing.span("model.predict") as span:
            if span is not None:
                span.set_attributes(
                    {"ailayer.model.flavor": version.flavor, "ailayer.rows": len(matrix)}
                )
            return _result(decode_answer(await self._send(target, body, span)))

    async def ready(self, tenant_id: str, target: Target) -> None:
        """A worker loads the target's model into its cache (this process loads nothing);
        the other workers load it on their first call."""
        version = target.version
        body = encode_ready(tenant_id, version.model, version.version, version.cache_key[2])
        with self.tracing.span("model.load") as span:
            _reply(await self._send(target, body, span), "ready", READY)

    async def explain(
        self, tenant_id: str, target: Target, matrix: np.ndarray, background: np.ndarray
    ) -> dict[str, Any]:
        """A worker computes the attributions: the model never loads in the gateway."""
        version = target.version
        body = encode_explain(
            tenant_id,
            version.model,
            version.version,
            version.cache_key[2],
            matrix,
            background,
            target.signature.names,
        )
        with self.tracing.span("model.explain") as span:
            explanation = _reply(await self._send(target, body, span), "explanation", EXPLAIN)
        return explanation

    async def _send(self, target: Target, body: bytes, span: Any) -> bytes:
        """``body`` to the first worker that answers (see ``order``): its answer."""
        lost: list[str] = []
        for link in self.order():
            try:
                answer = await link.call(body, self.timeout)
            except WorkerLost as exc:
                self._lose(link, str(exc))
                lost.append(str(exc))
                continue
            except TimeoutError:
                logger.warning("model worker %s: no answer in %g s", link.address, self.timeout)
                raise BackendUnavailable(
                    f"endpoint {target.endpoint!r}: the model worker did not answer within "
                    f"{self.timeout:g} s"
                ) from None
            if span is not None:
                span.set_attribute("ailayer.worker", link.address)
            return answer
        logger.warning("no model worker answered: %s", "; ".join(lost))
        raise BackendUnavailable(  # worker addresses stay in the log, not in the answer
            f"endpoint {target.endpoint!r}: no model worker could answer "
            f"({len(lost)} tried); retry later"
        )

    def order(self) -> list[WorkerLink]:
        """The workers to try, in order: those up by fewest calls outstanding (ties in
        turn), then those recently lost (the last resort)."""
        now = time.monotonic()
        start = self._turn = (self._turn + 1) % len(self.links)
        turn = self.links[start:] + self.links[:start]
        up = sorted((link for link in turn if link.down_until <= now), key=_outstanding)
        return up + [link for link in turn if link.down_until > now]

    def _lose(self, link: WorkerLink, reason: str) -> None:
        if link.down_until <= time.monotonic():
            logger.warning("model worker lost, calls go to the others: %s", reason)
        link.down_until = time.monotonic() + self.retry_seconds

    async def aclose(self) -> None:
        for link in self.links:
            link.close()


def _outstanding(link: WorkerLink) -> int:
    return link.outstanding


def _loop() -> asyncio.AbstractEventLoop:
    return asyncio.get_running_loop()


def _result(answer: Predictions | tuple[str, str]) -> Predictions:
    """The worker's answer, or its error raised as the same ailayer error."""
    if isinstance(answer, Predictions):
        return answer
    _raise(*answer)


def _reply(body: bytes, key: str, op: str) -> Any:
    """The ``key`` of the worker's answer to ``op``, or its error raised; an answer
    without it is a worker that does not know ``op`` (older than the gateway)."""
    answer = decode_reply(body)
    if isinstance(answer, tuple):
        _raise(*answer)
    if key not in answer:
        raise BackendUnavailable(
            f"the model worker did not answer the operation {op!r}: run gateways and workers "
            "of one ailayer version"
        )
    return answer[key]


def _raise(code: str, message: str) -> NoReturn:
    """A worker's error as the same ailayer error; a request the worker could not read is
    the worker's fault (an older one), not the caller's."""
    if code == ModelError.code:
        raise ModelError(message, prediction_id=new_id())
    if code == BadRequest.code:
        raise BackendUnavailable(
            f"the model worker could not read the gateway's request ({message}): run "
            "gateways and workers of one ailayer version"
        )
    raise ERRORS_BY_CODE.get(code, AilayerError)(message)
