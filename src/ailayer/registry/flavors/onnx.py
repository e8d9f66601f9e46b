"""ONNX models run with onnxruntime on the CPU.

The model takes one float tensor ``[rows, features]``. Classifier outputs in the
skl2onnx shape (a label output plus probabilities, as a tensor or a list of maps) give
scores; any other model's first output is the prediction.
"""

from __future__ import annotations

import numpy as np

from ailayer.core.errors import InvalidInput
from ailayer.registry.flavors.base import Predictions, classifier_predictions, refuse_pickle


class OnnxModel:
    def __init__(self, session) -> None:  # type: ignore[no-untyped-def]
        self.session = session
        self.input_name = session.get_inputs()[0].name
        self.outputs = [o.name for o in session.get_outputs()]

    def predict(self, features: np.ndarray) -> Predictions:
        results = self.session.run(None, {self.input_name: features.astype(np.float32)})
        values = np.asarray(results[0]).reshape(len(features), -1)
        if len(results) < 2:
            flat = values[:, 0] if values.shape[1] == 1 else values
            return Predictions(flat.tolist())
        proba = results[1]
        if isinstance(proba, list):  # ZipMap: one {class: p} dict per row
            classes = np.array(list(proba[0].keys()))
            proba = np.array([[row[c] for c in classes] for row in proba])
        else:
            classes = np.arange(np.asarray(proba).shape[1])
            proba = np.asarray(proba)
        prediction = classifier_predictions(classes, proba)
        prediction.values = [v.item() if isinstance(v, np.generic) else v for v in values[:, 0]]
        return prediction


class OnnxFlavor:
    name = "onnx"

    def check(self, data: bytes) -> None:
        refuse_pickle(data)
        self.load(data)

    def load(self, data: bytes) -> OnnxModel:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        try:
            session = onnxruntime.InferenceSession(
                data, options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:
            raise InvalidInput(f"not a loadable ONNX model: {exc}", field="artifact") from exc
        return OnnxModel(session)
