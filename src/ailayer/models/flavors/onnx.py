"""ONNX models run with onnxruntime on the CPU.

The model takes one float tensor ``[rows, features]`` (float32, or float64 when the graph
declares a double input: compiled scikit-learn models do, to compute as scikit-learn does). Classifier outputs in the
skl2onnx shape (a label output plus probabilities, as a tensor or a list of maps) give
scores; any other model's first output is the prediction.

A probability tensor (``zipmap=False``) does not say which class each column is, so the
class labels are read from the graph; without them, columns are named by their index.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ailayer.core.errors import InvalidInput, UnsafeArtifact
from ailayer.models.flavors.base import Predictions, classifier_predictions, refuse_pickle

LABEL_ATTRIBUTES = ("classlabels_ints", "classlabels_int64s", "classlabels_strings")
ZIP_HINT = (
    "zip archives are refused: a TorchScript file (torch.jit.save) or torch.save file "
    "loads pickled objects and runs TorchScript code; export the model with "
    "torch.onnx.export and register the .onnx bytes"
)


def class_labels(data: bytes) -> list[Any] | None:
    """The classifier's labels in probability-column order, if the graph states them.

    skl2onnx puts them either on the classifier node (``LinearClassifier``,
    ``TreeEnsembleClassifier``, ``SVMClassifier``, ``ZipMap``) or in a constant that an
    ``ArrayFeatureExtractor`` indexes with the arg-max (MLP and other generic converters).
    """
    import onnx
    from onnx import helper, numpy_helper

    try:
        graph = onnx.load_from_string(data).graph
    except Exception:
        return None
    constants = {tensor.name: tensor for tensor in graph.initializer}
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.name in LABEL_ATTRIBUTES:
                return _decoded(helper.get_attribute_value(attribute))
        if node.op_type == "ArrayFeatureExtractor" and node.input[0] in constants:
            return _decoded(numpy_helper.to_array(constants[node.input[0]]).ravel().tolist())
    return None


def _decoded(values: list[Any]) -> list[Any]:
    return [v.decode("utf-8") if isinstance(v, bytes) else v for v in values]


class OnnxModel:
    def __init__(self, session, labels: list[Any] | None = None) -> None:  # type: ignore[no-untyped-def]
        self.session = session
        self.labels = labels
        self.input_name = session.get_inputs()[0].name
        double = session.get_inputs()[0].type == "tensor(double)"
        self.dtype = np.float64 if double else np.float32
        self.outputs = [o.name for o in session.get_outputs()]

    def predict(self, features: np.ndarray) -> Predictions:
        results = self.session.run(None, {self.input_name: features.astype(self.dtype, copy=False)})
        values = np.asarray(results[0]).reshape(len(features), -1)
        if len(results) < 2:
            flat = values[:, 0] if values.shape[1] == 1 else values
            return Predictions(flat.tolist())
        proba = results[1]
        if isinstance(proba, list):  # ZipMap: one {class: p} dict per row
            classes = np.array(list(proba[0].keys()))
            proba = np.array([[row[c] for c in classes] for row in proba])
        else:
            proba = np.asarray(proba)
            classes = self._classes(proba.shape[1])
        prediction = classifier_predictions(classes, proba)
        prediction.values = values[:, 0].tolist()  # plain Python values
        return prediction

    def _classes(self, columns: int) -> np.ndarray:
        if self.labels is not None and len(self.labels) == columns:
            return np.array(self.labels)
        return np.arange(columns)


class OnnxFlavor:
    """ONNX graphs; registered as ``pytorch`` too, for models exported with
    ``torch.onnx.export``: only ONNX operators run, never TorchScript or pickled state."""

    def __init__(self, name: str = "onnx") -> None:
        self.name = name

    def check(self, data: bytes) -> None:
        self.load(data)

    def load(self, data: bytes) -> OnnxModel:
        import onnxruntime

        refuse_pickle(data)
        if data[:4] == b"PK\x03\x04":
            raise UnsafeArtifact(ZIP_HINT, field="artifact")
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        try:
            session = onnxruntime.InferenceSession(
                data, options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:
            raise InvalidInput(f"not a loadable ONNX model: {exc}", field="artifact") from exc
        return OnnxModel(session, class_labels(data))
