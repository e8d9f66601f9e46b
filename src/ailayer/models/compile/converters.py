"""Conversions of a loaded model to ONNX, most exact first.

scikit-learn graphs are tried with a float64 input first (linear models and scalers then
compute in double, exactly like scikit-learn), then float32. onnxmltools converts
LightGBM and XGBoost boosters with a float32 input only. Each conversion is a
``Candidate`` the compiler verifies; the first that passes is kept.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

SKLEARN_OPSET = {"": 17, "ai.onnx.ml": 3}
ONNXMLTOOLS_OPSET = 15  # the highest onnxmltools' tree converters support


class NotCompilable(Exception):
    """The model's kind has no converter; the message says why."""


@dataclass(frozen=True, slots=True)
class Candidate:
    """One way to convert the model: ``build()`` returns the ONNX bytes."""

    converter: str  # what converted it and with which input precision
    build: Callable[[], bytes]


def candidates(flavor: str, model: Any, n_features: int) -> list[Candidate]:
    """The conversions to try for a model loaded by ``flavor``, most exact first."""
    if flavor == "sklearn":
        return _sklearn(model.estimator, n_features)
    if flavor == "lightgbm":
        return _lightgbm(model.booster, n_features)
    if flavor == "xgboost":
        return _xgboost(model.booster, n_features)
    if flavor in ("onnx", "pytorch"):
        raise NotCompilable(f"the {flavor} flavor already runs on onnxruntime")
    raise NotCompilable(f"the {flavor} flavor has no compiler")


def _sklearn(estimator: Any, n_features: int) -> list[Candidate]:
    try:
        import skl2onnx
    except ImportError:
        raise NotCompilable("skl2onnx is not installed") from None
    from sklearn.base import is_classifier

    options = {"zipmap": False} if is_classifier(estimator) else None

    def build(dtype: type) -> Callable[[], bytes]:
        def convert() -> bytes:
            example = np.zeros((1, n_features), dtype=dtype)
            onx = skl2onnx.to_onnx(estimator, example, options=options, target_opset=SKLEARN_OPSET)
            return _serialized(onx)

        return convert

    version = f"skl2onnx {skl2onnx.__version__}"
    return [
        Candidate(f"{version}, float64 input", build(np.float64)),
        Candidate(f"{version}, float32 input", build(np.float32)),
    ]


def _lightgbm(booster: Any, n_features: int) -> list[Candidate]:
    onnxmltools, float_type = _onnxmltools()

    def convert() -> bytes:
        onx = onnxmltools.convert_lightgbm(
            booster,
            initial_types=[("input", float_type([None, n_features]))],
            zipmap=False,
            target_opset=ONNXMLTOOLS_OPSET,
        )
        return _serialized(onx)

    return [Candidate(f"onnxmltools {onnxmltools.__version__}, float32 input", convert)]


def _xgboost(booster: Any, n_features: int) -> list[Candidate]:
    onnxmltools, float_type = _onnxmltools()

    def convert() -> bytes:
        onx = onnxmltools.convert_xgboost(
            booster,
            initial_types=[("input", float_type([None, n_features]))],
            target_opset=ONNXMLTOOLS_OPSET,
        )
        return _serialized(onx)

    return [Candidate(f"onnxmltools {onnxmltools.__version__}, float32 input", convert)]


def _onnxmltools() -> tuple[Any, Any]:
    try:
        import onnxmltools
        from onnxmltools.convert.common.data_types import FloatTensorType
    except ImportError:
        raise NotCompilable("onnxmltools is not installed") from None
    return onnxmltools, FloatTensorType


def _serialized(onx: Any) -> bytes:
    """The graph's bytes, with every output's batch dimension left free: some converters
    declare ``[1]``, and onnxruntime then warns on every larger batch."""
    for output in onx.graph.output:
        dims = output.type.tensor_type.shape.dim
        if len(dims) > 0:
            dims[0].Clear()
            dims[0].dim_param = "N"
    return onx.SerializeToString()
