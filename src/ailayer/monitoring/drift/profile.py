"""A window's profile: one mergeable summary per feature, storable without pickle.

``profile(reference_frame)`` makes a reference profile (its own quantile bins);
``profile(window_frame, reference=ref)`` summarizes a window on the reference's bins and
kinds, so that windows merge (``a.merge(b)``) and compare against the reference.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ailayer.core.errors import InvalidInput
from ailayer.monitoring.drift.summary import (
    DEFAULT_BINS,
    CategoricalSummary,
    NumericSummary,
    Summary,
    summarize_categorical,
    summarize_numeric,
)
from ailayer.monitoring.numeric import moments

_NUMERIC_ARRAYS = ("values", "weights", "edges", "hist")
_NUMERIC_SCALARS = ("count", "missing", "mean", "std", "exact", "out_of_range")


@dataclass(frozen=True, eq=False)
class Profile:
    """Summaries of one window: ``rows`` rows and a summary per feature name; ``origin``
    says where a stored reference's rows came from (a log window: its endpoint and
    bounds), so that a data subject request can tell whether it holds the subject's."""

    rows: int
    features: dict[str, Summary]
    origin: dict | None = None

    def merge(self, other: Profile) -> Profile:
        """The profile of both windows together (same features, same reference bins)."""
        if set(self.features) != set(other.features):
            raise ValueError("cannot merge profiles of different features")
        merged = {
            name: summary.merge(other.features[name])  # type: ignore[arg-type]
            for name, summary in self.features.items()
        }
        return Profile(self.rows + other.rows, merged)

    def to_bytes(self) -> bytes:
        """A NumPy ``.npz`` archive with a JSON header; read back by ``from_bytes``."""
        arrays: dict[str, np.ndarray] = {}
        header: dict = {"rows": self.rows, "features": {}}
        if self.origin is not None:
            header["origin"] = self.origin
        for index, (name, summary) in enumerate(self.features.items()):
            header["features"][name] = _describe(summary, index, arrays)
        buffer = io.BytesIO()
        np.savez(buffer, header=np.frombuffer(json.dumps(header).encode(), np.uint8), **arrays)
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> Profile:
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            header = json.loads(archive["header"].tobytes())
            features = {name: _restore(meta, archive) for name, meta in header["features"].items()}
        return cls(header["rows"], features, header.get("origin"))


def profile(
    frame: Mapping[str, object] | pd.DataFrame,
    *,
    reference: Profile | None = None,
    categorical: Iterable[str] = (),
    bins: int = DEFAULT_BINS,
) -> Profile:
    """Summarize every column of ``frame`` (or the reference's features, in its kinds).

    Without a reference, a column is categorical when named in ``categorical`` or when
    its dtype is not numeric (text, bool, pandas category); otherwise numeric.
    """
    names = list(reference.features) if reference else [str(c) for c in frame]
    missing = [n for n in names if n not in frame]
    if missing:
        raise InvalidInput(f"the window lacks features {missing}", field=missing[0])
    forced = set(categorical)
    features = {
        name: _summarize(name, frame[name], reference, forced, bins)  # type: ignore[index]
        for name in names
    }
    return Profile(_row_count(frame, names), features)


def _summarize(
    name: str, column: object, reference: Profile | None, forced: set[str], bins: int
) -> Summary:
    if reference is not None:
        kind = reference.features[name].kind
    else:
        kind = "categorical" if name in forced or not _is_numeric(column) else "numeric"
    if kind == "categorical":
        return summarize_categorical(column)
    edges = reference.features[name].edges if reference else None  # type: ignore[union-attr]
    try:
        return summarize_numeric(column, edges, bins)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"feature {name!r} must be numeric: {exc}", field=name) from exc


def _is_numeric(column: object) -> bool:
    dtype = getattr(column, "dtype", None) or np.asarray(column).dtype
    return pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)


def _row_count(frame: Mapping[str, object] | pd.DataFrame, names: list[str]) -> int:
    if isinstance(frame, pd.DataFrame):
        return len(frame)
    return len(frame[names[0]]) if names else 0  # type: ignore[arg-type]


def _describe(summary: Summary, index: int, arrays: dict[str, np.ndarray]) -> dict:
    if isinstance(summary, CategoricalSummary):
        return {"kind": "categorical", "counts": summary.counts, "missing": summary.missing}
    for part in _NUMERIC_ARRAYS:
        arrays[f"f{index}_{part}"] = getattr(summary, part)
    meta = {part: getattr(summary, part) for part in _NUMERIC_SCALARS}
    return {"kind": "numeric", "index": index, **meta}


def _restore(meta: dict, archive: Mapping[str, np.ndarray]) -> Summary:
    if meta["kind"] == "categorical":
        return CategoricalSummary(dict(meta["counts"]), meta["missing"])
    arrays = {part: archive[f"f{meta['index']}_{part}"] for part in _NUMERIC_ARRAYS}
    scalars = {part: meta[part] for part in _NUMERIC_SCALARS if part in meta}
    if "std" not in meta:  # stored before std replaced the sum of squared deviations
        scalars["std"] = _std_of_old(meta, arrays)
    return NumericSummary(**arrays, **scalars)


def _std_of_old(meta: dict, arrays: dict[str, np.ndarray]) -> float:
    """The std of a profile stored with ``m2``; an overflowed one (inf or NaN, from
    values near ±1e308) is recomputed from the stored values and their counts."""
    m2, count = float(meta["m2"]), meta["count"]
    if not count:
        return 0.0
    if math.isfinite(m2):
        return math.sqrt(m2 / count)
    return moments(arrays["values"], arrays["weights"])[1]
