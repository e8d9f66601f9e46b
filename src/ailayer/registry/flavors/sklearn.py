"""scikit-learn models saved with skops. Never falls back to pickle.

skops lists the types a file would instantiate; we trust only classes defined in
scikit-learn, NumPy and SciPy, and refuse anything else (functions, builtins, other
packages) at registration and again at load.
"""

from __future__ import annotations

import importlib
import zipfile
from io import BytesIO

import numpy as np

from ailayer.core.errors import InvalidInput, UnsafeArtifact
from ailayer.registry.flavors.base import Predictions, classifier_predictions, refuse_pickle

TRUSTED_ROOTS = ("sklearn", "numpy", "scipy")


def _is_trusted_class(dotted: str) -> bool:
    module_name, _, attr = dotted.rpartition(".")
    if module_name.split(".")[0] not in TRUSTED_ROOTS:
        return False
    try:
        obj = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError):
        return False
    return isinstance(obj, type)


def trusted_types(data: bytes) -> list[str]:
    """The extra types this file needs, all checked safe; raises ``UnsafeArtifact`` if not."""
    import skops.io as sio

    try:
        needed = sio.get_untrusted_types(data=data)
    except Exception as exc:
        raise InvalidInput(f"not a readable skops file: {exc}", field="artifact") from exc
    unsafe = [name for name in needed if not _is_trusted_class(name)]
    if unsafe:
        raise UnsafeArtifact(
            f"the skops file would load untrusted types: {', '.join(unsafe)}",
            field="artifact",
        )
    return needed


class SklearnModel:
    def __init__(self, estimator) -> None:  # type: ignore[no-untyped-def]
        self.estimator = estimator
        self._proba = hasattr(estimator, "predict_proba") and hasattr(estimator, "classes_")

    def predict(self, features: np.ndarray) -> Predictions:
        if self._proba:
            proba = self.estimator.predict_proba(features)
            return classifier_predictions(self.estimator.classes_, proba)
        values = self.estimator.predict(features)
        return Predictions([v.item() if isinstance(v, np.generic) else v for v in values])


class SklearnFlavor:
    name = "sklearn"

    def check(self, data: bytes) -> None:
        refuse_pickle(data)
        if not zipfile.is_zipfile(BytesIO(data)):
            raise InvalidInput(
                "sklearn artifacts must be skops files (skops.io.dumps); this is not one",
                field="artifact",
            )
        self.load(data)

    def load(self, data: bytes) -> SklearnModel:
        import skops.io as sio

        estimator = sio.loads(data, trusted=trusted_types(data))
        if not hasattr(estimator, "predict"):
            raise InvalidInput("the skops file holds no estimator with predict()", field="artifact")
        return SklearnModel(estimator)
