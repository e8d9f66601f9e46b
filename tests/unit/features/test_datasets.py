"""The dataset content hash: equal values hash equal whatever their physical layout."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from ailayer.features.datasets import content_hash


def table(values: pa.Array) -> pa.Table:
    n = len(values)
    return pa.table(
        {"id": pa.array(np.arange(n)), "name": [f"n{i}" for i in range(n)], "v": values}
    )


def with_garbage_under_nulls(values: list[float | None]) -> pa.Array:
    """The same logical array, but with arbitrary bytes under its null slots."""
    raw = np.array([7.5 if v is None else v for v in values], dtype=np.float64)
    return pa.array(raw, mask=np.array([v is None for v in values]))


def test_layout_does_not_change_the_hash() -> None:
    n = 70_000
    values = [None if i % 3 == 0 else float(i) for i in range(n)]
    base = table(pa.array(values, pa.float64()))
    rechunked = pa.Table.from_batches(base.to_batches(max_chunksize=7_777))
    garbage = table(with_garbage_under_nulls(values))
    taken = base.take(pa.array(np.arange(n)))
    offset = table(pa.array([9.0, *values], pa.float64()).slice(1))  # values at an offset
    assert garbage.column("v").to_pylist() == values
    assert offset.column("v").chunk(0).offset == 1
    assert len({content_hash(t) for t in (base, rechunked, garbage, taken, offset)}) == 1


def test_values_nulls_and_schema_change_the_hash() -> None:
    values = [1.0, None, 3.0]
    base = content_hash(table(pa.array(values)))
    assert content_hash(table(pa.array([1.0, 2.0, 3.0]))) != base
    assert content_hash(table(pa.array([1.0, None, 4.0]))) != base
    assert content_hash(table(pa.array([None, 1.0, 3.0]))) != base
    renamed = table(pa.array(values)).rename_columns(["id", "name", "w"])
    assert content_hash(renamed) != base
    # an all-valid bitmap present or absent is the same data
    no_nulls = pa.array([1.0, 2.0, 3.0])
    bitmap = pa.Array.from_buffers(
        pa.float64(),
        3,
        [pa.py_buffer(np.packbits([1, 1, 1], bitorder="little")), no_nulls.buffers()[1]],
    )
    assert content_hash(table(bitmap)) == content_hash(table(no_nulls))
