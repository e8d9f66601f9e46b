"""Point-in-time cases shared by the join tests: sources split over two Parquet files
(some rows arrive "late": an older event time in a later file) and a brute-force
reference answer for them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

BASE = datetime(2025, 1, 1, tzinfo=UTC)


def write_files(root: Path, name: str, key: str, files: tuple[list, list]) -> None:
    folder = root / name
    folder.mkdir()
    for index, rows in enumerate(files):
        table = pa.table(
            {
                key: pa.array([r[0] for r in rows], pa.int64() if key == "k" else pa.string()),
                "ts": pa.array(
                    [BASE + timedelta(minutes=r[1]) for r in rows], pa.timestamp("us", tz="UTC")
                ),
                "value": pa.array([r[2] for r in rows], pa.int64()),
            }
        )
        pq.write_table(table, folder / f"part-{index}.parquet")


def reference(
    entity: list[tuple], key_index: int, files: tuple[list, list], ttl: int | None
) -> list:
    """The latest row at or before each entity time (ties: later file, later row), if fresh."""
    rows = [(r[1], f, i, r) for f, part in enumerate(files) for i, r in enumerate(part)]
    answers = []
    for entity_row in entity:
        key, at = entity_row[key_index], entity_row[2]
        candidates = [c for c in rows if c[3][0] == key and key is not None and c[0] <= at]
        if not candidates:
            answers.append(None)
            continue
        best = max(candidates, key=lambda c: c[:3])
        answers.append(best[3][2] if ttl is None or at - best[0] <= ttl else None)
    return answers
