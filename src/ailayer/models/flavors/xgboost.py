"""XGBoost boosters in XGBoost's own JSON or UBJSON model format, never pickle.

Save with ``booster.save_raw("json")`` or ``save_raw("ubj")`` (``save_model`` to a
``.json`` or ``.ubj`` file writes the same bytes). The file is read twice before XGBoost
sees it: by ``json`` or our bounded ``ubjson`` reader (XGBoost's own reader crashes the
process on deeply nested input), then ``xgboost_check`` verifies the document: a tree
booster, an objective we know how to serve, and trees whose children and features stay
in bounds (XGBoost walks them without checks at predict time).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from ailayer.core.errors import InvalidInput
from ailayer.models.flavors import ubjson
from ailayer.models.flavors.base import Predictions, classifier_predictions, refuse_pickle
from ailayer.models.flavors.xgboost_check import check_document

JSON_HINT = 'expected booster.save_raw("json") or save_raw("ubj") bytes'
MAX_DEPTH = 64  # XGBoost's documents nest about 8 levels


class XGBoostModel:
    def __init__(self, booster, objective: str, num_class: int) -> None:  # type: ignore[no-untyped-def]
        self.booster = booster
        self.objective = objective
        self.num_class = num_class

    def predict(self, features: np.ndarray) -> Predictions:
        matrix = np.ascontiguousarray(features, dtype=np.float32)
        if self.objective.startswith("multi:"):
            margin = self.booster.inplace_predict(matrix, predict_type="margin")
            proba = _softmax(np.asarray(margin).reshape(len(matrix), self.num_class))
            return classifier_predictions(np.arange(self.num_class), proba)
        if self.objective in ("binary:logistic", "binary:logitraw"):
            margin = np.asarray(self.booster.inplace_predict(matrix, predict_type="margin"))
            scores = (1.0 / (1.0 + np.exp(-margin.astype(np.float64)))).reshape(-1).tolist()
            return Predictions([int(s >= 0.5) for s in scores], scores)
        values = np.asarray(self.booster.inplace_predict(matrix)).reshape(len(matrix), -1)
        if self.objective == "binary:hinge":
            return Predictions([int(v) for v in values[:, 0]])
        return Predictions((values[:, 0] if values.shape[1] == 1 else values).tolist())


def _softmax(margin: np.ndarray) -> np.ndarray:
    shifted = np.exp(margin - margin.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def parse(data: bytes) -> Any:
    """The model document in ``data`` (JSON or UBJSON), read without XGBoost."""
    head = data.lstrip()[:2]
    if head[:1] != b"{":
        raise InvalidInput(f"not an XGBoost model file ({JSON_HINT})", field="artifact")
    try:
        if head[1:2] in (b'"', b"}", b" ", b"\n", b"\r", b"\t"):
            return json.loads(data)
        return ubjson.loads(data, MAX_DEPTH)
    except RecursionError:
        raise InvalidInput(
            "the XGBoost model file is nested too deeply to be a model", field="artifact"
        ) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput(
            f"not a readable XGBoost model file ({JSON_HINT}): {exc}", field="artifact"
        ) from None


class XGBoostFlavor:
    name = "xgboost"

    def check(self, data: bytes) -> None:
        self.load(data)  # a load runs every check: the reader, the document, the booster

    def load(self, data: bytes) -> XGBoostModel:
        try:
            import xgboost
        except ImportError:
            raise InvalidInput(
                "this server cannot load XGBoost models: install ailayer[xgboost]",
                field="flavor",
            ) from None
        refuse_pickle(data)
        document = parse(data)
        check_document(document, MAX_DEPTH)
        booster = xgboost.Booster(params={"nthread": 1})
        try:
            booster.load_model(bytearray(data))
        except xgboost.core.XGBoostError as exc:
            message = str(exc).splitlines()[0][:300]
            raise InvalidInput(
                f"XGBoost could not load the model file: {message}", field="artifact"
            ) from None
        learner = json.loads(booster.save_config())["learner"]
        objective = learner["objective"]["name"]
        num_class = int(learner["learner_model_param"].get("num_class", "0"))
        return XGBoostModel(booster, objective, num_class)
