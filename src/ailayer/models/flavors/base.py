"""The flavor port and the registry of known flavors.

A flavor honours this contract:
- ``check(data)`` raises ``UnsafeArtifact`` or ``InvalidInput`` for bytes that are not a
  safe, loadable model of this flavor; it is called at registration, before storing;
- ``load(data)`` returns a ``LoadedModel``; it never unpickles, so bytes that passed
  ``check`` cannot run code when loaded.

A loaded model may also declare ``blocking = True`` (its ``predict`` waits on the
network, so the server always runs it in a worker thread) and ``bind(context)``, called
once by the model cache with the ``ServingContext`` it is served in (a provider needs
its tenant, signature, fallback and cost ledger; a file model needs none of it).
"""

from __future__ import annotations

import bz2
import lzma
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from ailayer.core.errors import InvalidInput, UnsafeArtifact
from ailayer.core.hosts import HostRule

if TYPE_CHECKING:
    from ailayer.models.providers.costs import CostLedger
    from ailayer.models.version import ModelVersion

PICKLE_HINT = (
    "pickle files can run arbitrary code when loaded and are refused; "
    "save scikit-learn models with skops (skops.io.dumps), LightGBM models with "
    'booster.model_to_string(), XGBoost models with booster.save_raw("json"), '
    "or export to ONNX (PyTorch models with torch.onnx.export); recommenders as .npz "
    "(ailayer.models.flavors.recommender.dumps)"
)


@dataclass(slots=True)
class Predictions:
    """What a model says about a batch: one value per row, and scores where it has them.

    ``scores`` is the probability of the positive class for binary classifiers and the
    top-class probability otherwise; ``probabilities`` maps class to probability.
    """

    values: list[Any]
    scores: list[float] | None = None
    probabilities: list[dict[str, float]] | None = None
    served_by: list[str] | None = None  # per row, for models that may answer by fallback


class LoadedModel(Protocol):
    def predict(self, features: np.ndarray) -> Predictions: ...


@dataclass(frozen=True, slots=True)
class ServingContext:
    """Where a loaded model serves: its tenant and version, a way to load another version
    of the same tenant (``load_version(model, number)``), the cost ledger, and the
    hosts a provider may call (the ``provider_hosts`` setting; empty: none)."""

    tenant_id: str
    version: ModelVersion
    load_version: Callable[[str, int], tuple[ModelVersion, LoadedModel]]
    costs: CostLedger
    provider_hosts: tuple[HostRule, ...] = ()


class Flavor(Protocol):
    name: str

    def check(self, data: bytes) -> None: ...

    def load(self, data: bytes) -> LoadedModel: ...


def looks_like_pickle(data: bytes) -> bool:
    """True for a pickle (protocol 2+), bare or compressed the ways joblib compresses it."""
    return _pickle_header(data) or _pickle_header(_decompressed_head(data))


def _pickle_header(data: bytes) -> bool:
    return len(data) >= 2 and data[0] == 0x80 and 2 <= data[1] <= 5


def _decompressed_head(data: bytes, size: int = 16) -> bytes:
    """The first ``size`` bytes of ``data`` uncompressed if it starts like a zlib, gzip,
    bz2, xz or lzma stream (``joblib.dump(..., compress=...)``), else ``b""``.

    Only ``size`` bytes are produced, so a compression bomb costs nothing; the input is
    capped at 1 MiB, enough for bz2, which emits nothing before a whole block is read.
    """
    head = data[: 1 << 20]
    try:
        if head[:1] == b"\x78" or head[:2] == b"\x1f\x8b":
            return zlib.decompressobj(wbits=47).decompress(head, size)
        if head[:3] == b"BZh":
            return bz2.BZ2Decompressor().decompress(head, size)
        if head[:6] == b"\xfd7zXZ\x00" or head[:3] == b"\x5d\x00\x00":
            return lzma.LZMADecompressor().decompress(head, size)
    except (zlib.error, OSError, EOFError, lzma.LZMAError):
        return b""
    return b""


def refuse_pickle(data: bytes) -> None:
    if looks_like_pickle(data):
        raise UnsafeArtifact(PICKLE_HINT, field="artifact")


def get_flavor(name: str) -> Flavor:
    from ailayer.models.flavors.lightgbm import LightGBMFlavor
    from ailayer.models.flavors.onnx import OnnxFlavor
    from ailayer.models.flavors.provider import ProviderFlavor
    from ailayer.models.flavors.recommender import RecommenderFlavor
    from ailayer.models.flavors.sklearn import SklearnFlavor
    from ailayer.models.flavors.xgboost import XGBoostFlavor

    flavors: dict[str, Flavor] = {
        "sklearn": SklearnFlavor(),
        "lightgbm": LightGBMFlavor(),
        "xgboost": XGBoostFlavor(),
        "onnx": OnnxFlavor(),
        "pytorch": OnnxFlavor("pytorch"),
        "provider": ProviderFlavor(),
        "recommender": RecommenderFlavor(),
    }
    try:
        return flavors[name]
    except KeyError:
        known = ", ".join(sorted(flavors))
        raise InvalidInput(
            f"unknown flavor {name!r}; known flavors: {known}", field="flavor"
        ) from None


def classifier_predictions(classes: np.ndarray, proba: np.ndarray) -> Predictions:
    """Turn a probability matrix into values, scores and per-class probabilities."""
    top = proba.argmax(axis=1)
    values = np.asarray(classes)[top].tolist()  # plain Python values, in one call
    if proba.shape[1] == 2:
        return Predictions(values, proba[:, 1].tolist())
    names = [str(_plain(c)) for c in classes]
    probabilities = [dict(zip(names, row.tolist(), strict=True)) for row in proba]
    return Predictions(values, proba.max(axis=1).tolist(), probabilities)


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value
