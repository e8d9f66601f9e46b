"""LightGBM boosters in their native text format (``booster.model_to_string()``)."""

from __future__ import annotations

import numpy as np

from ailayer.core.errors import InvalidInput
from ailayer.models.flavors.base import Predictions, refuse_pickle

BINARY_OBJECTIVES = ("binary", "cross_entropy", "xentropy")


class LightGBMModel:
    def __init__(self, booster) -> None:  # type: ignore[no-untyped-def]
        self.booster = booster
        objective = str(booster.params.get("objective", "")) or _objective_from_text(booster)
        self.binary = objective.startswith(BINARY_OBJECTIVES)
        self.multiclass = objective.startswith(("multiclass", "softmax", "multiclassova"))

    def predict(self, features: np.ndarray) -> Predictions:
        raw = self.booster.predict(features)
        if self.binary:
            scores = raw.tolist()
            return Predictions([int(s >= 0.5) for s in scores], scores)
        if self.multiclass:
            top = raw.argmax(axis=1)
            probabilities = [{str(i): p for i, p in enumerate(row.tolist())} for row in raw]
            return Predictions(top.tolist(), raw.max(axis=1).tolist(), probabilities)
        return Predictions(raw.tolist())


def _objective_from_text(booster) -> str:  # type: ignore[no-untyped-def]
    for line in booster.model_to_string(num_iteration=0).splitlines()[:20]:
        if line.startswith("objective="):
            return line.split("=", 1)[1]
    return ""


class LightGBMFlavor:
    name = "lightgbm"

    def check(self, data: bytes) -> None:
        refuse_pickle(data)
        self.load(data)

    def load(self, data: bytes) -> LightGBMModel:
        import lightgbm

        try:
            text = data.decode("utf-8")
            if not text.lstrip().startswith("tree"):
                raise ValueError("missing the 'tree' header")
            booster = lightgbm.Booster(model_str=text)
        except (UnicodeDecodeError, ValueError, lightgbm.basic.LightGBMError) as exc:
            raise InvalidInput(
                f"not a LightGBM model file (expected booster.model_to_string() text): {exc}",
                field="artifact",
            ) from exc
        return LightGBMModel(booster)
