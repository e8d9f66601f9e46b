"""Compile one model artifact: convert, then verify against the original on a sample."""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from ailayer.models.compile.converters import NotCompilable, candidates
from ailayer.models.compile.sample import validation_sample
from ailayer.models.flavors import Predictions, get_flavor
from ailayer.models.flavors.onnx import OnnxFlavor
from ailayer.models.signature import Signature

log = logging.getLogger(__name__)

TOLERANCE = 1e-6
SAMPLE_ROWS = 256
RUNTIME = "onnxruntime"


@dataclass(frozen=True, slots=True)
class Compilation:
    """The outcome: ``record`` is what the version stores (JSON), ``onnx`` the compiled
    bytes when they passed, else None."""

    record: dict[str, Any]
    onnx: bytes | None


def compile_model(flavor: str, artifact: bytes, signature: Signature) -> Compilation:
    """The compiled form of ``artifact`` if one equals it within ``TOLERANCE``; never
    raises: a failure is a record with ``compiled: false`` and the reason."""
    started = time.perf_counter()
    try:
        outcome = _compile(flavor, artifact, signature)
    except NotCompilable as exc:
        outcome = Compilation(_record(False, reason=str(exc)), None)
    except Exception as exc:  # a converter bug must not fail the registration
        log.warning("compiling a %s model failed", flavor, exc_info=True)
        outcome = Compilation(_record(False, reason=f"{type(exc).__name__}: {exc}"), None)
    outcome.record["seconds"] = round(time.perf_counter() - started, 3)
    return outcome


def not_compiled(reason: str) -> dict[str, Any]:
    """The record of a version that was not compiled, and why."""
    return _record(False, reason=reason)


def _compile(flavor: str, artifact: bytes, signature: Signature) -> Compilation:
    strings = [name for name, type_ in signature.inputs if type_ == "string"]
    if strings:
        raise NotCompilable(f"input {strings[0]!r} is a string; compiled models take numbers")
    original = get_flavor(flavor).load(artifact)
    reasons: list[str] = []
    best: float | None = None
    for candidate in candidates(flavor, original, len(signature.inputs)):
        try:
            onnx_bytes = candidate.build()
            compiled = OnnxFlavor().load(onnx_bytes)
            sample = validation_sample(signature, onnx_bytes, SAMPLE_ROWS)
            diff, mismatch = difference(original.predict(sample), compiled.predict(sample))
        except Exception as exc:
            reasons.append(f"{candidate.converter}: {type(exc).__name__}: {_short(exc)}")
            continue
        if mismatch is None and diff <= TOLERANCE:
            return Compilation(
                _record(True, converter=candidate.converter, max_abs_diff=diff), onnx_bytes
            )
        best = diff if best is None or (mismatch is None and diff < best) else best
        reasons.append(
            f"{candidate.converter}: {mismatch}"
            if mismatch
            else f"{candidate.converter}: max abs difference {diff:.3g} > {TOLERANCE:g}"
        )
    return Compilation(_record(False, max_abs_diff=best, reason="; ".join(reasons)), None)


def difference(original: Predictions, compiled: Predictions) -> tuple[float, str | None]:
    """The largest absolute difference between two answers for the same rows, and what
    differs when they cannot be compared number by number (labels, shapes)."""
    diff, mismatch = _pairs(original.values, compiled.values, "values")
    if mismatch:
        return diff, mismatch
    for name in ("scores", "probabilities"):
        a, b = getattr(original, name), getattr(compiled, name)
        if (a is None) != (b is None):
            return diff, f"one gives {name}, the other does not"
        if a is None:
            continue
        if name == "probabilities":
            if any(x.keys() != y.keys() for x, y in zip(a, b, strict=True)):
                return diff, "the classes differ"
            a = [v for row in a for v in row.values()]
            b = [v for row in b for v in row.values()]
        part, mismatch = _pairs(a, b, name)
        diff = max(diff, part)
        if mismatch:
            return diff, mismatch
    return diff, None


def _pairs(a: list[Any], b: list[Any], name: str) -> tuple[float, str | None]:
    left, right = _numbers(a), _numbers(b)
    if len(a) != len(b):
        return 0.0, f"{name}: {len(a)} against {len(b)} rows"
    if left is None or right is None or (left.dtype.kind == "f") != (right.dtype.kind == "f"):
        # labels (or mixed kinds): equal values of the same type, or the answer changes
        # (True and 1 are equal in Python but not in the JSON a client reads)
        for row, (x, y) in enumerate(zip(a, b, strict=True)):
            if type(x) is not type(y) or x != y:
                return 0.0, f"{name} differ at sample row {row}: {x!r} against {y!r}"
        return 0.0, None
    if left.shape != right.shape:
        return 0.0, f"{name}: shape {left.shape} against {right.shape}"
    if left.size == 0:
        return 0.0, None
    diff = float(np.max(np.abs(left - right)))
    if not math.isfinite(diff):
        return 0.0, f"{name}: a value is not finite"
    return diff, None


def _numbers(values: list[Any]) -> np.ndarray | None:
    try:
        array = np.asarray(values)
    except ValueError:
        return None
    if array.dtype.kind not in "iuf":  # bool labels are compared as labels
        return None
    return array.astype(np.float64)


def _record(
    compiled: bool,
    *,
    converter: str | None = None,
    max_abs_diff: float | None = None,
    reason: str | None = None,
) -> dict[str, Any]:
    import onnxruntime

    return {
        "compiled": compiled,
        "runtime": f"{RUNTIME} {onnxruntime.__version__}" if compiled else None,
        "converter": converter,
        "max_abs_diff": max_abs_diff,
        "tolerance": TOLERANCE,
        "sample_rows": SAMPLE_ROWS,
        "sample": "generated from the signature",
        "reason": reason,
    }


def _short(exc: Exception) -> str:
    return str(exc).splitlines()[0][:300] if str(exc) else ""
