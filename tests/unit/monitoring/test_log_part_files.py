"""Part files keep a dictionary only for columns that repeat: the values read back are the
same either way, and a model's output of one value per row is written plainly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ailayer.features.files import open_folder
from ailayer.monitoring.log.layout import repeats, write_part


def test_a_column_repeats_when_a_spread_sample_holds_few_distinct_values() -> None:
    rng = np.random.default_rng(5)
    assert not repeats(pa.chunked_array([rng.random(5000)]))  # a linear model's scores
    assert repeats(pa.chunked_array([np.round(rng.random(5000), 2)]))  # a forest's
    assert repeats(pa.chunked_array([pa.array(["0", "1"] * 2000)]))
    assert repeats(pa.chunked_array([pa.nulls(3000, pa.string())]))
    assert not repeats(pa.chunked_array([pa.array(["a", "b", "c"])]))
    assert repeats(pa.chunked_array([pa.array([], pa.float64())]))


def test_a_part_file_reads_back_as_written_with_dictionaries_where_values_repeat(
    tmp_path: Path,
) -> None:
    rng = np.random.default_rng(6)
    table = pa.table(
        {
            "score": pa.chunked_array([rng.random(3000), rng.random(3000)]),
            "prediction": pa.array(["0", "1", "1"] * 2000),
            "request_row": pa.array(np.arange(6000) % 7, pa.int32()),
            "features": pa.array([f'{{"a": {i}}}' for i in range(6000)]),
        }
    )
    location = write_part(table, open_folder(f"file://{tmp_path}"))
    assert pq.read_table(location).equals(table.combine_chunks())
    column_chunks = pq.ParquetFile(location).metadata.row_group(0)
    encodings = {
        column_chunks.column(i).path_in_schema: column_chunks.column(i).encodings for i in range(4)
    }
    assert "RLE_DICTIONARY" not in encodings["score"]
    assert "RLE_DICTIONARY" in encodings["prediction"]
    assert "RLE_DICTIONARY" in encodings["request_row"]
    assert "RLE_DICTIONARY" not in encodings["features"]
    described = {
        column_chunks.column(i).path_in_schema: column_chunks.column(i).is_stats_set
        for i in range(4)
    }
    assert described == {"score": True, "prediction": True, "request_row": True, "features": False}
