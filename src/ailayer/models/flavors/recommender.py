"""Recommenders: a prediction is a ranked list of items with scores, the ``recommender`` flavor.

The artifact is a NumPy ``.npz`` archive read by ``npz.read_npz`` (numeric arrays only,
never pickle, sizes checked before reading):

- ``meta``: UTF-8 JSON as uint8, ``{"format": "ailayer-recommender", "format_version": 1,
  "kind": "popularity" | "item-item", "max_k": 100, "popularity_weight": 0.0,
  "clv_feature": "clv", "clv_weight": 0.0, "clv_scale": 1.0}``;
- ``items``: the catalog's item ids (int64, distinct), n of them;
- ``popularity``: a score per item (how much it was used in training);
- ``item_value``: per item in [0, 1], how much a high-value customer favours it;
- ``similarity`` (``item-item`` only): an n * n item-item similarity.

An item's score for a request is its base score — its popularity, or for ``item-item``
the mean similarity to the items the customer owns plus ``popularity_weight`` * its
popularity — plus ``clv_weight * min(clv / clv_scale, 1) * item_value``: the customer's
lifetime value, a feature looked up at serving time, tilts the list towards the items
valuable customers take. Owned and excluded items are never recommended.

The inputs are found by name in the version's signature when the model cache binds it:
``owned`` and ``exclude`` (``long_list``), ``k`` (``long``, at most ``max_k``; default
10) and the CLV feature (``double``; required when ``clv_weight`` > 0). Each is optional
in the signature, so a model asks only for what it reads.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from ailayer.core.errors import InvalidInput, UnsafeArtifact
from ailayer.models.flavors.base import Predictions, ServingContext, refuse_pickle
from ailayer.models.flavors.npz import read_npz
from ailayer.models.signature import Signature

FORMAT = "ailayer-recommender"
KINDS = ("popularity", "item-item")
MEMBERS = frozenset({"meta", "items", "popularity", "item_value", "similarity"})
MAX_ITEMS = 20_000
MAX_K = 1000
DEFAULT_K = 10
MAX_META_BYTES = 64 * 1024
INPUTS = {"owned": "long_list", "exclude": "long_list", "k": "long"}


@dataclass(frozen=True, slots=True)
class Meta:
    kind: str
    max_k: int
    popularity_weight: float
    clv_feature: str
    clv_weight: float
    clv_scale: float


class RecommenderModel:
    """Scores the catalog per record and answers its top k, best first."""

    def __init__(self, meta: Meta, arrays: dict[str, np.ndarray]) -> None:
        self.meta = meta
        self.items = arrays["items"]
        self.index = {int(item): i for i, item in enumerate(self.items.tolist())}
        self.popularity = arrays["popularity"].astype(np.float64)
        self.item_value = arrays["item_value"].astype(np.float64)
        self.similarity = arrays.get("similarity")
        self.columns: dict[str, int] | None = None

    def bind(self, context: ServingContext) -> None:
        """Find the inputs this model reads in the version's signature."""
        self.columns = input_columns(self.meta, Signature.parse(context.version.signature))

    def predict(self, features: np.ndarray) -> Predictions:
        if self.columns is None:
            raise InvalidInput(
                "a recommender answers only on the predict path of a server", field="flavor"
            )
        return Predictions([self._recommend(row) for row in features])

    def _recommend(self, row: np.ndarray) -> dict[str, list[dict[str, Any]]]:
        owned = self._cell(row, "owned", [])
        k = int(self._cell(row, "k", DEFAULT_K))  # a float in an all-numeric matrix
        if not 1 <= k <= self.meta.max_k:
            raise InvalidInput(f"k must be from 1 to {self.meta.max_k}; got {k}", field="k")
        scores = self._base(owned)
        if self.meta.clv_weight > 0:
            clv = float(self._cell(row, self.meta.clv_feature, 0.0))
            tilt = min(max(clv / self.meta.clv_scale, 0.0), 1.0)
            scores = scores + self.meta.clv_weight * tilt * self.item_value
        left_out = [*owned, *self._cell(row, "exclude", [])]
        positions = [self.index[i] for i in left_out if i in self.index]
        scores[positions] = -np.inf
        top = _top(scores, k)
        return {"items": [{"item": int(self.items[i]), "score": float(scores[i])} for i in top]}

    def _base(self, owned: list[int]) -> np.ndarray:
        if self.similarity is None:
            return self.popularity.copy()
        seeds = [self.index[i] for i in owned if i in self.index]
        if not seeds:
            return self.popularity.copy()  # a new customer: what most people take
        similar = self.similarity[seeds].astype(np.float64).mean(axis=0)
        return similar + self.meta.popularity_weight * self.popularity

    def _cell(self, row: np.ndarray, name: str, default: Any) -> Any:
        assert self.columns is not None
        column = self.columns.get(name)
        return default if column is None else _plain(row[column])


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _top(scores: np.ndarray, k: int) -> list[int]:
    """Positions of the ``k`` best finite scores, best first; ties by catalog order."""
    allowed = np.flatnonzero(np.isfinite(scores))
    order = allowed[np.lexsort((allowed, -scores[allowed]))]
    return order[:k].tolist()


def input_columns(meta: Meta, signature: Signature) -> dict[str, int]:
    """name → column of the inputs the model reads; 422 for one of the wrong type."""
    wanted = {**INPUTS, meta.clv_feature: "double"}
    columns = {}
    for position, (name, type_) in enumerate(signature.inputs):
        if name not in wanted:
            continue
        if type_ != wanted[name]:
            raise InvalidInput(
                f"signature input {name!r} must be {wanted[name]} for a recommender; got {type_}",
                field="signature",
            )
        columns[name] = position
    if meta.clv_weight > 0 and meta.clv_feature not in columns:
        raise InvalidInput(
            f"this recommender weighs the {meta.clv_feature!r} feature (clv_weight > 0): "
            f"its signature needs an input {meta.clv_feature!r} (double)",
            field="signature",
        )
    return columns


class RecommenderFlavor:
    name = "recommender"

    def check(self, data: bytes) -> None:
        self._parse(data)

    def load(self, data: bytes) -> RecommenderModel:
        meta, arrays = self._parse(data)
        return RecommenderModel(meta, arrays)

    def _parse(self, data: bytes) -> tuple[Meta, dict[str, np.ndarray]]:
        refuse_pickle(data)
        arrays = read_npz(data, MEMBERS)
        missing = sorted({"meta", "items", "popularity", "item_value"} - set(arrays))
        if missing:
            raise UnsafeArtifact(f"the recommender archive lacks {missing}", field="artifact")
        meta = _meta(arrays["meta"])
        _check_arrays(meta, arrays)
        return meta, arrays


def _meta(raw: np.ndarray) -> Meta:
    if raw.dtype != np.uint8 or raw.ndim != 1 or raw.size > MAX_META_BYTES:
        raise UnsafeArtifact(
            "meta must be UTF-8 JSON bytes (uint8, 1-D, ≤ 64 KiB)", field="artifact"
        )
    try:
        meta = orjson.loads(raw.tobytes())
    except orjson.JSONDecodeError as exc:
        raise UnsafeArtifact(f"meta is not JSON: {exc}", field="artifact") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise UnsafeArtifact(f"meta.format must be {FORMAT!r}", field="artifact")
    if meta.get("format_version") != 1:
        raise UnsafeArtifact("meta.format_version must be 1", field="artifact")
    kind = meta.get("kind")
    if kind not in KINDS:
        raise UnsafeArtifact(f"meta.kind must be one of {list(KINDS)}", field="artifact")
    max_k = meta.get("max_k", 100)
    if type(max_k) is not int or not 1 <= max_k <= MAX_K:
        raise UnsafeArtifact(f"meta.max_k must be an integer from 1 to {MAX_K}", field="artifact")
    clv_feature = meta.get("clv_feature", "clv")
    if not isinstance(clv_feature, str) or not clv_feature or clv_feature in INPUTS:
        raise UnsafeArtifact("meta.clv_feature must name a feature input", field="artifact")
    return Meta(
        kind,
        max_k,
        _number(meta, "popularity_weight", 0.0, 0.0),
        clv_feature,
        _number(meta, "clv_weight", 0.0, 0.0),
        _number(meta, "clv_scale", 1.0, 1e-12),
    )


def _number(meta: dict, name: str, default: float, low: float) -> float:
    value = meta.get(name, default)
    if type(value) not in (int, float) or not math.isfinite(value) or value < low:
        raise UnsafeArtifact(f"meta.{name} must be a finite number ≥ {low}", field="artifact")
    return float(value)


def _check_arrays(meta: Meta, arrays: dict[str, np.ndarray]) -> None:
    items = arrays["items"]
    if items.dtype.kind not in "iu" or items.ndim != 1 or not 1 <= items.size <= MAX_ITEMS:
        raise UnsafeArtifact(
            f"items must be 1 to {MAX_ITEMS:,} integer item ids (1-D)", field="artifact"
        )
    if np.unique(items).size != items.size:
        raise UnsafeArtifact("items must be distinct", field="artifact")
    n = items.size
    for name in ("popularity", "item_value"):
        _finite(arrays[name], name, (n,))
    if not ((arrays["item_value"] >= 0) & (arrays["item_value"] <= 1)).all():
        raise UnsafeArtifact("item_value must lie in [0, 1]", field="artifact")
    similarity = arrays.get("similarity")
    if meta.kind == "item-item":
        if similarity is None:
            raise UnsafeArtifact("an item-item recommender needs similarity", field="artifact")
        _finite(similarity, "similarity", (n, n))
    elif similarity is not None:
        raise UnsafeArtifact("a popularity recommender has no similarity", field="artifact")


def _finite(array: np.ndarray, name: str, shape: tuple[int, ...]) -> None:
    if array.shape != shape or array.dtype.kind != "f":
        raise UnsafeArtifact(f"{name} must be a float array of shape {shape}", field="artifact")
    if not np.isfinite(array).all():
        raise UnsafeArtifact(f"{name} must hold only finite numbers", field="artifact")


def dumps(
    items: np.ndarray,
    popularity: np.ndarray,
    *,
    item_value: np.ndarray | None = None,
    similarity: np.ndarray | None = None,
    max_k: int = 100,
    popularity_weight: float = 0.0,
    clv_feature: str = "clv",
    clv_weight: float = 0.0,
    clv_scale: float = 1.0,
) -> bytes:
    """A recommender's artifact, for ``register_model(..., flavor="recommender")``:
    item-item when ``similarity`` is given, else popularity."""
    meta = {
        "format": FORMAT,
        "format_version": 1,
        "kind": "popularity" if similarity is None else "item-item",
        "max_k": max_k,
        "popularity_weight": popularity_weight,
        "clv_feature": clv_feature,
        "clv_weight": clv_weight,
        "clv_scale": clv_scale,
    }
    arrays = {
        "meta": np.frombuffer(orjson.dumps(meta), dtype=np.uint8),
        "items": np.asarray(items, dtype=np.int64),
        "popularity": np.asarray(popularity, dtype=np.float64),
        "item_value": np.zeros(len(items)) if item_value is None else np.asarray(item_value, float),
    }
    if similarity is not None:
        arrays["similarity"] = np.asarray(similarity, dtype=np.float32)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    data = buffer.getvalue()
    RecommenderFlavor().check(data)
    return data
