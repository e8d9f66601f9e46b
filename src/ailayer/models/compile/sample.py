"""The validation sample a compiled model must agree on, generated from the signature.

Columns follow their declared types. A feature that a tree ensemble splits on is drawn
across the span of its split thresholds (plus a margin on both sides), so every branch is
taken; any other number is drawn at scales from 1 to 1,000, so both small and large
inputs are compared. The seed is fixed: the same version always gets the same sample.
"""

from __future__ import annotations

import numpy as np

from ailayer.models.signature import Signature

TREE_OPS = ("TreeEnsembleClassifier", "TreeEnsembleRegressor", "TreeEnsemble")


def validation_sample(
    signature: Signature, onnx_bytes: bytes, rows: int, seed: int = 0
) -> np.ndarray:
    """``rows`` rows in signature order, float64, for numeric signatures."""
    rng = np.random.default_rng(seed)
    spans = split_spans(onnx_bytes)
    columns = []
    for index, (_, type_) in enumerate(signature.inputs):
        span = spans.get(index)
        if type_ == "boolean":
            column = rng.integers(0, 2, rows).astype(np.float64)
        elif span is not None:
            low, high = span
            margin = max(high - low, 1.0) * 0.1
            column = rng.uniform(low - margin, high + margin, rows)
        else:
            scale = 10.0 ** rng.integers(0, 4, rows)
            column = rng.normal(size=rows) * scale
        if type_ == "long":
            column = np.round(column)
        columns.append(column)
    return np.column_stack(columns).astype(np.float64)


def split_spans(onnx_bytes: bytes) -> dict[int, tuple[float, float]]:
    """Per input column, the lowest and highest threshold the graph's trees split it on;
    only trees reading the graph's input directly (or through a cast) count."""
    import onnx
    from onnx import helper, numpy_helper

    graph = onnx.load_from_string(onnx_bytes).graph
    direct = {graph.input[0].name}
    for node in graph.node:
        if node.op_type == "Cast" and node.input[0] in direct:
            direct.update(node.output)
    spans: dict[int, tuple[float, float]] = {}
    for node in graph.node:
        if node.op_type not in TREE_OPS or node.input[0] not in direct:
            continue
        attributes = {a.name: a for a in node.attribute}
        if "nodes_featureids" not in attributes:
            continue
        features = helper.get_attribute_value(attributes["nodes_featureids"])
        if "nodes_values_as_tensor" in attributes:
            values = numpy_helper.to_array(attributes["nodes_values_as_tensor"].t).tolist()
        elif "nodes_values" in attributes:
            values = helper.get_attribute_value(attributes["nodes_values"])
        else:
            continue
        modes = helper.get_attribute_value(attributes["nodes_modes"])
        for feature, value, mode in zip(features, values, modes, strict=False):
            if mode == b"LEAF":
                continue
            low, high = spans.get(feature, (value, value))
            spans[feature] = (min(low, value), max(high, value))
    return spans
