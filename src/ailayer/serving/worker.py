"""A model worker: the process that runs models for gateways (``ailayer serve --role
worker``).

It answers only the internal wire protocol (``serving.wire``): a gateway connects, says
the shared secret, and sends requests: model calls (``predict``), loads (``ready``, the
v2 ready routes) and explanations (``explain``, against the background the gateway read
from its log). The worker loads each model itself from the registry and artifact store
of the same settings (its own model cache and micro-batcher, through ``LocalRunner``), so
a version is identified on the wire by tenant, model, number and artifact sha256 only.
Its requests and model cache are Prometheus series (``WorkerMetrics``), served on the
setting ``metrics_listen`` by ``ailayer serve --role worker``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import time
from dataclasses import replace

from anyio import to_thread

from ailayer.core.errors import AilayerError, BackendUnavailable
from ailayer.models.service import ModelRegistry
from ailayer.models.version import ModelVersion
from ailayer.serving.metrics import OK as ANSWERED
from ailayer.serving.metrics import WorkerMetrics
from ailayer.serving.runner import LocalRunner
from ailayer.serving.wire import (
    EXPLAIN,
    HELLO,
    OK,
    OPERATIONS,
    PREDICT,
    READY,
    Call,
    WireError,
    decode_call,
    encode_answer,
    encode_error,
    encode_reply,
    frame,
    read_frame,
)

logger = logging.getLogger("ailayer.serving")

VERSIONS_KEPT = 10_000  # registry rows remembered, so a loaded model answers without a query


class ModelWorker:
    def __init__(
        self,
        registry: ModelRegistry,
        runner: LocalRunner,
        secret: str = "",
        metrics: WorkerMetrics | None = None,
    ) -> None:
        self.registry = registry
        self.runner = runner
        self.secret = secret.encode()
        self.metrics = metrics if metrics is not None else WorkerMetrics(runner)
        self._versions: dict[tuple, ModelVersion] = {}
        self._tasks: set[asyncio.Task] = set()
        self._gateways: set[asyncio.StreamWriter] = set()

    async def start(self, host: str, port: int) -> asyncio.Server:
        """Listen on ``host:port`` (loopback unless a secret guards it: see the CLI)."""
        return await asyncio.start_server(self._connection, host, port)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._gateways.add(writer)
        try:
            request_id, secret = await read_frame(reader)
            if request_id != HELLO or not hmac.compare_digest(secret, self.secret):
                writer.write(frame(HELLO, encode_error("unauthenticated", "wrong worker secret")))
                return
            writer.write(frame(HELLO, OK))
            while True:
                request_id, body = await read_frame(reader)
                task = asyncio.create_task(self._answer(request_id, body, writer))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            pass  # the gateway went away: its calls go elsewhere
        except WireError as exc:
            logger.warning("closing a gateway connection: %s", exc)
        finally:
            self._gateways.discard(writer)
            writer.close()

    async def _answer(self, request_id: int, body: bytes, writer: asyncio.StreamWriter) -> None:
        started = time.perf_counter()
        op, tenant_id, outcome = "unknown", "", ANSWERED
        try:
            call = decode_call(body)
            tenant_id = call.tenant_id
            op = call.op if call.op in OPERATIONS else "unknown"
            answer = await self._operation(call)
        except AilayerError as exc:
            outcome, answer = exc.code, encode_error(exc.code, exc.message)
        except WireError as exc:
            outcome, answer = "bad_request", encode_error("bad_request", str(exc))
        except Exception:
            logger.exception("a model call failed in the worker")
            outcome = "internal_error"
            answer = encode_error(outcome, "the model worker failed; see its log")
        self.metrics.observe(op, outcome, tenant_id, started)
        if writer.is_closing():
            return
        writer.write(frame(request_id, answer))
        with contextlib.suppress(ConnectionError, OSError):  # the gateway went away
            await writer.drain()

    async def _operation(self, call: Call) -> bytes:
        """The answer to one request, by its operation."""
        if call.op not in OPERATIONS:
            raise BackendUnavailable(
                f"this model worker does not know the operation {call.op!r} (it knows "
                f"{', '.join(OPERATIONS)}): run gateways and workers of one ailayer version"
            )
        version = await self._version(call)
        if call.op == PREDICT:
            result = await self.runner.run(
                call.tenant_id, version, call.matrix, in_thread=call.in_thread
            )
            return encode_answer(result)
        if call.op == READY:
            await self.runner.model(call.tenant_id, version)
            return encode_reply({"ready": True})
        assert call.op == EXPLAIN and call.background is not None
        explanation = await self.runner.explain_version(
            call.tenant_id, version, call.names, call.matrix, call.background
        )
        return encode_reply({"explanation": explanation})

    async def _version(self, call: Call) -> ModelVersion:
        """The registry's version the call names (a database read only on a miss), checked
        against the artifact the gateway resolved."""
        key = (call.tenant_id, call.model, call.version, call.sha256)
        version = self._versions.get(key)
        if version is not None:
            return version
        version = await to_thread.run_sync(
            self.registry.get_version, call.tenant_id, call.model, call.version
        )
        version = served_as(version, call.sha256)
        if version is None:
            raise BackendUnavailable(
                f"model {call.model!r} version {call.version} has another artifact in this "
                "worker's registry: gateway and worker must share metadata_url"
            )
        if len(self._versions) >= VERSIONS_KEPT:
            self._versions.clear()
        self._versions[key] = version
        return version

    async def close(self) -> None:
        """Drop the gateways' connections and the calls in flight (they go to other workers)."""
        for writer in list(self._gateways):
            writer.close()
        for task in list(self._tasks):
            task.cancel()


def served_as(version: ModelVersion, sha256: str) -> ModelVersion | None:
    """The version serving the artifact the gateway resolved (original or compiled: the
    switch may have moved since either side read it), or None if it is neither."""
    compiled = version.compiled_artifact
    if compiled is not None and compiled.sha256 == sha256:
        return replace(version, serve_compiled=True)
    if version.artifact_sha256 == sha256:
        return replace(version, serve_compiled=False)
    return None
