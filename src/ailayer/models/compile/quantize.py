"""Dynamic int8 quantization of a model's ONNX form, with what it costs and gains measured
against the form that serves the version now (its compiled form, or the original).

``onnxruntime.quantization.quantize_dynamic`` stores float32 ``MatMul``/``Gemm`` weights
as int8 and quantizes activations on the fly: networks (an exported PyTorch model, a
scikit-learn MLP) shrink to about a quarter and often run faster, at some accuracy. Trees
and linear models have no such weights (their ONNX operators, ``TreeEnsemble*`` and
``LinearClassifier``, take none), so quantizing them is refused with the reason rather
than registered unchanged.

The source graph: an ``onnx``/``pytorch`` version's own file; for scikit-learn, LightGBM
and XGBoost, a float32 conversion of the original model (the compiled form serving uses
may compute in float64, which dynamic quantization does not take).
"""

from __future__ import annotations

import math
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ailayer.core.errors import InvalidInput
from ailayer.models.compile.converters import NotCompilable, candidates
from ailayer.models.compile.sample import validation_sample
from ailayer.models.flavors import LoadedModel, get_flavor
from ailayer.models.flavors.onnx import OnnxFlavor
from ailayer.models.signature import Signature

QUANTIZED_OPS = frozenset({"MatMulInteger", "DynamicQuantizeLinear", "ConvInteger"})
WEIGHT_OPS = ("MatMul", "Gemm", "Conv")
SAMPLE_ROWS = 1000
LATENCY_CALLS = 200
METHOD = "dynamic int8 (onnxruntime.quantization, weights QInt8)"


@dataclass(frozen=True, slots=True)
class Quantized:
    """The quantized graph and its deltas against the version it came from."""

    onnx: bytes
    source: str  # what was quantized: the version's ONNX file, or a float32 conversion
    deltas: dict[str, float | None]


def quantize(
    flavor: str,
    artifact: bytes,
    signature: Signature,
    baseline: LoadedModel,
    holdout: Any = None,
) -> Quantized:
    """Quantize a version's model (``flavor``, ``artifact``) and measure the result
    against ``baseline``, the form that serves it now. ``holdout``: an optional
    ``(matrix, labels)`` pair on which accuracy is compared; agreement on the signature's
    validation sample is always measured. Raises ``InvalidInput`` (field ``flavor``) when
    the model has nothing to quantize."""
    original = get_flavor(flavor).load(artifact)
    source, graph = _float32_graph(flavor, artifact, original, signature)
    ops = _ops(graph)
    quantized = _quantize_bytes(graph) if ops & set(WEIGHT_OPS) else b""
    if not quantized or not _ops(quantized) & QUANTIZED_OPS:
        found = ", ".join(sorted(ops - {"Cast", "Identity", "Reshape"})) or "none"
        raise InvalidInput(
            "nothing to quantize: dynamic int8 quantization stores float32 "
            f"{'/'.join(WEIGHT_OPS)} weights, and this model's graph has none "
            f"(its operators: {found})",
            field="flavor",
        )
    candidate = OnnxFlavor().load(quantized)
    sample = validation_sample(signature, graph, SAMPLE_ROWS)
    deltas = {
        "float32_bytes": float(len(graph)),
        "quantized_bytes": float(len(quantized)),
        "size_ratio": len(quantized) / len(graph),
        **_agreement(baseline.predict(sample), candidate.predict(sample)),
        **_latencies(baseline, candidate, sample),
        **_accuracies(baseline, candidate, holdout),
    }
    return Quantized(quantized, source, deltas)


def _float32_graph(
    flavor: str, artifact: bytes, model: LoadedModel, signature: Signature
) -> tuple[str, bytes]:
    if flavor in ("onnx", "pytorch"):
        return f"the version's {flavor} file", artifact
    try:
        found = candidates(flavor, model, len(signature.inputs))
    except NotCompilable as exc:
        raise InvalidInput(f"cannot quantize: {exc}", field="flavor") from None
    float32 = [c for c in found if "float32" in c.converter]
    if not float32:
        raise InvalidInput(f"cannot quantize: no float32 conversion of {flavor}", field="flavor")
    return float32[0].converter, float32[0].build()


def _quantize_bytes(graph: bytes) -> bytes:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory(prefix="ailayer-quantize-") as folder:
        source, target = Path(folder) / "model.onnx", Path(folder) / "model.int8.onnx"
        source.write_bytes(graph)
        quantize_dynamic(source, target, weight_type=QuantType.QInt8)
        return target.read_bytes()


def _ops(graph: bytes) -> set[str]:
    import onnx

    return {node.op_type for node in onnx.load_from_string(graph).graph.node}


def _agreement(before: Any, after: Any) -> dict[str, float | None]:
    """Share of equal predictions, and the largest score difference, on the sample."""
    same = np.mean([a == b for a, b in zip(before.values, after.values, strict=True)])
    scores = None
    if before.scores is not None and after.scores is not None:
        diff = np.abs(np.asarray(before.scores, float) - np.asarray(after.scores, float))
        scores = float(diff.max()) if diff.size else None
    return {"agreement": float(same), "max_score_difference": _finite(scores)}


def _latencies(original: LoadedModel, candidate: LoadedModel, sample: np.ndarray) -> dict:
    """One-row p50/p99 and per-row time in a 1,000-row batch, the two models taking turns
    call by call (so a burst of other work on the machine hits both alike)."""
    single: dict[str, list[float]] = {"original": [], "quantized": []}
    batch: dict[str, list[float]] = {"original": [], "quantized": []}
    models = {"original": original, "quantized": candidate}
    for model in models.values():  # warm-up
        model.predict(sample[:1])
        model.predict(sample)
    for index in range(LATENCY_CALLS):
        row = sample[index % len(sample) : index % len(sample) + 1]
        for name, model in models.items():
            started = time.perf_counter()
            model.predict(row)
            single[name].append(time.perf_counter() - started)
    for _ in range(10):
        for name, model in models.items():
            started = time.perf_counter()
            model.predict(sample)
            batch[name].append((time.perf_counter() - started) / len(sample))
    out: dict[str, float | None] = {}
    for name in models:
        out[f"{name}_p50_ms"] = float(np.percentile(single[name], 50) * 1e3)
        out[f"{name}_p99_ms"] = float(np.percentile(single[name], 99) * 1e3)
        out[f"{name}_batch_us_per_row"] = float(np.median(batch[name]) * 1e6)
    out["p99_ratio"] = out["quantized_p99_ms"] / out["original_p99_ms"]  # type: ignore[operator]
    out["batch_ratio"] = out["quantized_batch_us_per_row"] / out["original_batch_us_per_row"]  # type: ignore[operator]
    return out


def _accuracies(original: LoadedModel, candidate: LoadedModel, holdout: Any) -> dict:
    if holdout is None:
        return {"original_accuracy": None, "quantized_accuracy": None, "accuracy_delta": None}
    matrix, labels = holdout
    before = _accuracy(original.predict(matrix).values, labels)
    after = _accuracy(candidate.predict(matrix).values, labels)
    return {
        "original_accuracy": before,
        "quantized_accuracy": after,
        "accuracy_delta": after - before,
        "holdout_rows": float(len(labels)),
    }


def _accuracy(values: list[Any], labels: list[Any]) -> float:
    return float(np.mean([_same(v, y) for v, y in zip(values, labels, strict=True)]))


def _same(value: Any, label: Any) -> bool:
    """A prediction equals a label across JSON's types (1 == 1.0 == True, "1" == 1)."""
    if value == label:
        return True
    try:
        return float(value) == float(label)
    except (TypeError, ValueError):
        return str(value) == str(label)


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None
