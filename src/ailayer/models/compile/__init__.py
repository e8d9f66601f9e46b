"""Compiled execution: at registration a supported model is converted to ONNX and kept
beside the original only when its outputs equal the original's on a validation sample.

scikit-learn's own ``predict_proba`` spends most of a one-record request validating and
inspecting its input; the same model as an ONNX graph on onnxruntime answers in a
fraction of that. The rule is strict: the compiled form is kept only if, on every row of
the sample, its labels equal the original's and every number (scores, probabilities,
regression values) is within ``TOLERANCE``. Otherwise the version serves the original and
its ``compilation`` record says why. Compilation never fails a registration.
"""

from ailayer.models.compile.compiler import TOLERANCE, Compilation, compile_model, not_compiled

__all__ = ["TOLERANCE", "Compilation", "compile_model", "not_compiled"]
