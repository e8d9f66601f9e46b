"""The gateway → model worker wire format: length-prefixed frames on one TCP connection.

Cheap on purpose, since every prediction crosses it: no HTTP, one persistent connection
per worker that carries any number of requests at once (answers come back in any order,
matched by request id), a numeric matrix as its raw bytes.

A frame is ``!IQ`` (body length, request id) and the body. Request id 0 is the hello, the
first frame on a connection: its body is the shared secret (``model_worker_secret``,
empty when unset), answered by ``ok`` or an error. A request body is ``!I`` (header
length), an orjson header (tenant, model, version, artifact sha256, dtype, shape,
in_thread) and the matrix: its bytes for a numeric dtype, orjson rows for ``object``
(string inputs). An answer body is orjson: the ``Predictions`` fields, or ``{"error":
code, "message": ...}``.
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
    """One model call, as a worker receives it."""

    tenant_id: str
    model: str
    version: int
    sha256: str
    matrix: np.ndarray
    in_thread: bool


def encode_call(
    tenant_id: str, model: str, version: int, sha256: str, matrix: np.ndarray, in_thread: bool
) -> bytes:
    numeric = matrix.dtype != object
    data = np.ascontiguousarray(matrix).tobytes() if numeric else orjson.dumps(matrix.tolist())
    header = orjson.dumps(
        {
            "t": tenant_id,
            "m": model,
            "v": version,
            "s": sha256,
            "d": matrix.dtype.str if numeric else "O",
            "shape": matrix.shape,
            "th": in_thread,
        }
    )
    return HEADER.pack(len(header)) + header + data


def decode_call(body: bytes) -> Call:
    try:
        (size,) = HEADER.unpack_from(body)
        head = orjson.loads(body[HEADER.size : HEADER.size + size])
        data = body[HEADER.size + size :]
        shape = tuple(head["shape"])
        if head["d"] == "O":
            matrix = np.empty(shape, dtype=object)
            rows = orjson.loads(data)
            for i, row in enumerate(rows):
                matrix[i, :] = row
        else:
            # a writable copy: a model may work on its input in place, as it may locally
            matrix = np.frombuffer(bytearray(data), dtype=np.dtype(head["d"])).reshape(shape)
        return Call(head["t"], head["m"], head["v"], head["s"], matrix, head["th"])
    except (struct.error, orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise WireError(f"a malformed call: {exc}") from None


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


def decode_answer(body: bytes) -> Predictions | tuple[str, str]:
    """The worker's ``Predictions``, or its error as (code, message)."""
    answer = orjson.loads(body)
    if "error" in answer:
        return answer["error"], answer["message"]
    return Predictions(
        answer["values"], answer.get("scores"), answer.get("probabilities"), answer.get("served_by")
    )
