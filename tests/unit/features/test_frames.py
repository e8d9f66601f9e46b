"""A training set's pandas form: the same frame Arrow would give, without copying the
floating feature columns."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from ailayer.features.frames import to_pandas


def garbage_under_nulls(values: list[float | None]) -> pa.Array:
    raw = np.array([7.5 if v is None else v for v in values])
    return pa.array(raw, mask=np.array([v is None for v in values]))


def test_same_frame_as_arrow_with_feature_columns_shared() -> None:
    table = pa.table(
        {
            "customer_id": pa.array([1, 2, 3]),
            "label": pa.array([0.5, None, 1.5]),  # the caller's column: not fresh
            "v__amount": garbage_under_nulls([1.0, None, 3.0]),
            "v__count": pa.array([4, None, 6]),  # integer with nulls: float, as Arrow does
            "v__name": pa.array(["a", None, "c"]),
        }
    )
    fresh = ["v__amount", "v__count", "v__name"]
    frame = to_pandas(table, fresh)
    expected = table.to_pandas()
    pd.testing.assert_frame_equal(frame, expected)
    assert np.isnan(frame["v__amount"].iloc[1])  # 7.5 under the null became NaN
    data = table.column("v__amount").chunk(0).buffers()[1]
    shared = np.frombuffer(data, dtype=np.float64, count=3)
    assert np.shares_memory(frame["v__amount"].to_numpy(), shared)  # no copy made
    assert not np.shares_memory(frame["label"].to_numpy(), shared)


def test_chunked_floating_column_is_converted_not_shared() -> None:
    column = pa.chunked_array([garbage_under_nulls([1.0, None]), garbage_under_nulls([None])])
    table = pa.table({"v__x": column})
    frame = to_pandas(table, ["v__x"])
    assert frame["v__x"].isna().tolist() == [False, True, True]
