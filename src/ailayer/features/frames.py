"""A training set's pandas form without a second copy of its feature columns.

Arrow's ``to_pandas`` must copy a floating column that has nulls (pandas wants NaN where
Arrow has a validity bit). A training set's feature columns are memory made for this
result alone (gathered, filled or computed by the offline store, never the caller's
input), so their null slots can be overwritten with NaN in place and the pandas frame
can share them: at 1,000,000 rows x 10 features that is ~80 MB less at the peak.
"""

from __future__ import annotations

from collections.abc import Collection
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

FILL_THREADS = 2


def to_pandas(table: pa.Table, fresh: Collection[str]) -> pd.DataFrame:
    """``table`` as pandas; the ``fresh`` floating columns are shared, not copied.

    Only name columns in ``fresh`` whose memory nothing else reads: their null slots are
    set to NaN in place. The other columns go through Arrow's ``to_pandas`` as usual."""
    with ThreadPoolExecutor(max_workers=FILL_THREADS) as pool:  # numpy releases the GIL
        filled = zip(fresh, pool.map(_nan_filled, [table.column(n) for n in fresh]), strict=True)
        shared = {name: values for name, values in filled if values is not None}
    rest = table.drop_columns(list(shared)).to_pandas(split_blocks=True)
    columns = {name: shared[name] if name in shared else rest[name] for name in table.column_names}
    return pd.DataFrame(columns, copy=False)


def _nan_filled(column: pa.ChunkedArray) -> np.ndarray | None:
    """The column's values as a writable numpy view with NaN under its nulls, or None
    where that is not possible without a copy (not floating, several chunks, no buffer)."""
    if not pa.types.is_floating(column.type) or column.num_chunks != 1:
        return None
    chunk = column.chunk(0)
    dtype = np.dtype(chunk.type.to_pandas_dtype())
    data = chunk.buffers()[1]
    if data is None or not data.is_mutable:
        return None
    values = np.frombuffer(
        data, dtype=dtype, count=len(chunk), offset=chunk.offset * dtype.itemsize
    )
    if chunk.null_count:
        np.copyto(values, np.nan, where=pc.is_null(chunk).to_numpy(zero_copy_only=False))
    return values
