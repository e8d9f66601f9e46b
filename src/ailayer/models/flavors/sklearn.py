"""scikit-learn models saved with skops. Never falls back to pickle.

A file is read only if every name in it is on the explicit allow-list
(``skops_audit``), checked at registration and again at every load, and every decision
tree it holds is sound (``tree_check``).
"""

from __future__ import annotations

import zipfile
from io import BytesIO

import numpy as np

from ailayer.core.errors import InvalidInput, UnsafeArtifact
from ailayer.models.flavors.base import Predictions, classifier_predictions, refuse_pickle
from ailayer.models.flavors.tree_check import check_trees


class SklearnModel:
    def __init__(self, estimator) -> None:  # type: ignore[no-untyped-def]
        self.estimator = estimator
        self._proba = hasattr(estimator, "predict_proba") and hasattr(estimator, "classes_")

    def predict(self, features: np.ndarray) -> Predictions:
        if self._proba:
            proba = self.estimator.predict_proba(features)
            return classifier_predictions(self.estimator.classes_, proba)
        values = self.estimator.predict(features)
        return Predictions(np.asarray(values).tolist())  # plain Python values, in one call


class SklearnFlavor:
    name = "sklearn"

    def check(self, data: bytes) -> None:
        self.load(data)  # a load runs every check: the allow-list, the trees, predict()

    def load(self, data: bytes) -> SklearnModel:
        import skops.io as sio
        from skops.io.exceptions import UntrustedTypesFoundException

        from ailayer.models.flavors.skops_audit import audit  # imports skops: ~1.5 s

        refuse_pickle(data)
        if not zipfile.is_zipfile(BytesIO(data)):
            raise InvalidInput(
                "sklearn artifacts must be skops files (skops.io.dumps); this is not one",
                field="artifact",
            )
        trusted = audit(data)
        try:
            estimator = sio.loads(data, trusted=trusted)
        except UntrustedTypesFoundException as exc:
            raise UnsafeArtifact(f"the model file is not allowed: {exc}", field="artifact") from exc
        except Exception as exc:
            raise InvalidInput(f"not a readable skops file: {exc}", field="artifact") from exc
        check_trees(estimator)
        if not hasattr(estimator, "predict"):
            raise InvalidInput("the skops file holds no estimator with predict()", field="artifact")
        return SklearnModel(estimator)
