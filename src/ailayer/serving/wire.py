"""The gateway → model worker wire format: length-prefixed frames on one TCP connection.

Cheap on purpose, since every prediction crosses it: no HTTP, one persistent connection
per worker that carries any number of requests at once (answers come back in any order,
matched by request id), a numeric matrix as its raw bytes.

A frame is ``!IQ`` (body length, request id) and the body. Request id 0 is the hello, the
first frame on a connection: its body is the shared secret (``model_worker_secret``,
empty when unset), answered by ``ok`` or an error. A request body is ``!I`` (header
length), an orjson header (operation, tenant, model, version, artifact sha256, dtype,
shape, in_thread) and the matrix: its bytes for a numeric dtype, orjson rows for
``object`` (string inputs). An answer body is orjson: the operation's answer, or
``{"error": code, "message": ...}``.

Operations (the header's ``op``; absent is ``predict``, as gateways sent before there
were others): ``predict`` answers the ``Predictions`` fields; ``ready`` (no matrix)
loads the version into the worker's cache and answers ``{"ready": true}``; ``explain``
carries the matrix, then a float64 background matrix (``n``: the matrix's byte length,
``bshape``) and the signature's input names, and answers ``{"explanation": {...}}``.
A worker answers an operation it does not know with a ``backend_unavailable`` error
naming it, and a gateway reads a request its worker could not parse (an older worker)
as the worker's fault, not the caller's.
"""

from __future__ import annotations

import asyncio
import struct
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from ailayer.models.flavors import Predictions

FRAME = struct.Struct("!IQ")
HEADER = struct.Struct("!I")
HELLO = 0
MAX_FRAME_BYTES = 256 << 20  # a frame claiming more is a broken peer, not a request
OK = b"ok"
PREDICT, READY, EXPLAIN = "predict", "ready", "explain"
OPERATIONS = (PREDICT, READY, EXPLAIN)


class WireError(Exception):
    """The peer broke the format (not a lost connection)."""


def frame(request_id: int, body: bytes) -> bytes:
    return FRAME.pack(len(body), request_id) + body


async def read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """The next frame; ``asyncio.IncompleteReadError`` at the end of the stream."""
    length, request_id = FRAME.unpack(await reader.readexactly(FRAME.size))
    if length > MAX_FRAME_BYTES:
        raise WireError(f"a frame of {length} bytes is over the limit of {MAX_FRAME_BYTES}")
    return request_id, await reader.readexactly(length)


@dataclass(frozen=True, slots=True)
class Call:
    """One request, as a worker receives it (``matrix`` empty for ``ready``)."""

    tenant_id: str
    model: str
    version: int
    sha256: str
    matrix: np.ndarray
    in_thread: bool
    op: str = PREDICT
    background: np.ndarray | None = None
    names: tuple[str, ...] = ()


def encode_call(
    tenant_id: str, model: str, version: int, sha256: str, matrix: np.ndarray, in_thread: bool
) -> bytes:
    """A ``predict`` request (its header names no operation: the default)."""
    dtype, data = _pack(matrix)
    header = orjson.dumps(
        {
            "t": tenant_id,
            "m": model,
            "v": version,
            "s": sha256,
            "d": dtype,
            "shape": matrix.shape,
            "th": in_thread,
        }
    )
    return HEADER.pack(len(header)) + header + data


def encode_ready(tenant_id: str, model: str, version: int, sha256: str) -> bytes:
    """A ``ready`` request: load that version, answer when it is loaded."""
    header = orjson.dumps({"op": READY, "t": tenant_id, "m": model, "v": version, "s": sha256})
    return HEADER.pack(len(header)) + header


def encode_explain(
    tenant_id: str,
    model: str,
    version: int,
    sha256: str,
    matrix: np.ndarray,
    background: np.ndarray,
    names: tuple[str, ...],
) -> bytes:
    """An ``explain`` request: attributions of ``matrix`` rows against ``background``."""
    dtype, data = _pack(matrix)
    reference = np.ascontiguousarray(background, dtype=np.float64)
    header = orjson.dumps(
        {
            "op": EXPLAIN,
            "t": tenant_id,
            "m": model,
            "v": version,
            "s": sha256,
            "d": dtype,
            "shape": matrix.shape,
            "n": len(data),
            "bshape": reference.shape,
            "names": names,
        }
    )
    return HEADER.pack(len(header)) + header + data + reference.tobytes()


def decode_call(body: bytes) -> Call:
    """The request in ``body``; an operation this module does not know keeps its name in
    ``op`` (the worker answers it with an error) and nothing else."""
    try:
        (size,) = HEADER.unpack_from(body)
        head = orjson.loads(body[HEADER.size : HEADER.size + size])
        data = body[HEADER.size + size :]
        op = head.get("op", PREDICT)
        empty = np.empty((0, 0))
        if op not in OPERATIONS:
            return Call(head.get("t", ""), head.get("m", ""), 0, "", empty, False, str(op))
        if op == READY:
            return Call(head["t"], head["m"], head["v"], head["s"], empty, False, op)
        shape = tuple(head["shape"])
        if op == PREDICT:
            matrix = _unpack(head["d"], shape, data)
            return Call(head["t"], head["m"], head["v"], head["s"], matrix, head["th"])
        matrix = _unpack(head["d"], shape, data[: head["n"]])
        background = _unpack("<f8", tuple(head["bshape"]), data[head["n"] :])
        names = tuple(str(name) for name in head["names"])
        return Call(
            head["t"], head["m"], head["v"], head["s"], matrix, False, op, background, names
        )
    except (struct.error, orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise WireError(f"a malformed call: {exc}") from None


def _pack(matrix: np.ndarray) -> tuple[str, bytes]:
    """A matrix's dtype on the wire and its bytes: raw when numeric, orjson rows when not."""
    if matrix.dtype != object:
        return matrix.dtype.str, np.ascontiguousarray(matrix).tobytes()
    return "O", orjson.dumps(matrix.tolist())


def _unpack(dtype: str, shape: tuple[int, ...], data: bytes) -> np.ndarray:
    if dtype == "O":
        matrix = np.empty(shape, dtype=object)
        for i, row in enumerate(orjson.loads(data)):
            matrix[i, :] = row
        return matrix
    # a writable copy: a model may work on its input in place, as it may locally
    return np.frombuffer(bytearray(data), dtype=np.dtype(dtype)).reshape(shape)


def encode_answer(result: Predictions) -> bytes:
    answer: dict[str, Any] = {"values": result.values}
    if result.scores is not None:
        answer["scores"] = result.scores
    if result.probabilities is not None:
        answer["probabilities"] = result.probabilities
    if result.served_by is not None:
        answer["served_by"] = result.served_by
    return orjson.dumps(answer, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS)


def encode_error(code: str, message: str) -> bytes:
    return orjson.dumps({"error": code, "message": message})


def encode_reply(reply: dict[str, Any]) -> bytes:
    """The answer of an operation other than ``predict``."""
    return orjson.dumps(reply, option=orjson.OPT_SERIALIZE_NUMPY)


def decode_reply(body: bytes) -> dict[str, Any] | tuple[str, str]:
    """The worker's answer as a dict, or its error as (code, message)."""
    answer = orjson.loads(body)
    if "error" in answer:
        return answer["error"], answer["message"]
    return answer


def decode_answer(body: bytes) -> Predictions | tuple[str, str]:
    """The worker's ``Predictions``, or its error as (code, message)."""
    answer = orjson.loads(body)
    if "error" in answer:
        return answer["error"], answer["message"]
    return Predictions(
        answer["values"], answer.get("scores"), answer.get("probabilities"), answer.get("served_by")
    )
